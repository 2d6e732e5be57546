"""Real Apache Kafka for integration tests: the shared broker, a test's own broker, reading topics.

The shared broker (``kafka_url``): SIGNALS_KAFKA when it answers, else ``infra/kafka/start.sh`` on a
free port with its own data dir (stopped at the end). No broker: fail when
SIGNALS_REQUIRE_INTEGRATION=1, else skip. ``own_broker`` is a broker of the test's own (a test that
stops or replaces it harms nobody).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.cli.commands.worker import fresh_names

REPO = Path(__file__).resolve().parents[2]


def reachable(url: str) -> bool:
    host, _, port = url.split("://")[-1].split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except (OSError, ValueError):
        return False


def ephemeral_range() -> tuple[int, int]:
    """The ports the kernel gives outgoing connections (and ``bind(0)``)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return not reachable(f"kafka://127.0.0.1:{port}")


def free_port(span: int = 1) -> int:
    """A free port (and the ``span - 1`` after it) BELOW the ephemeral range: one taken from it (``bind(0)``)
    can be the source port of some client's connection by the time a server binds it, which a test
    broker once hit ("Address already in use" on its controller port)."""
    first, last = ephemeral_range()
    low, high = max(1024, min(20000, first - 1000)), first - span
    if high - low < 1000:  # an unusual range that starts low: above it instead
        low, high = last + 1, 65536 - span
    for _ in range(200):
        port = random.randrange(low, high)
        if all(bindable(port + i) for i in range(span)):
            return port
    raise RuntimeError(f"no {span} free consecutive ports in {low}-{high}")


def broker_env(port: int, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for infra/kafka/start.sh: both ports set explicitly, so a KAFKA_CONTROLLER_PORT
    inherited from the caller (.ci/run exports its own broker's) never collides."""
    return {**os.environ, "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(port + 1),
            "KAFKA_DATA_DIR": str(data_dir), **extra}


def free_port_pair() -> int:
    """A port whose next port is free too: a test broker's listener and controller."""
    return free_port(span=2)


def unavailable(why: str) -> None:
    if os.environ.get("SIGNALS_REQUIRE_INTEGRATION") == "1":
        pytest.fail(f"Kafka broker required but unavailable: {why}")
    pytest.skip(f"no Kafka broker: {why}")


@pytest.fixture(scope="session")
def kafka_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("SIGNALS_KAFKA", "")
    if given and reachable(given):
        yield given
        return
    port = free_port_pair()
    env = broker_env(port, tmp_path_factory.mktemp("kafka"))
    try:
        subprocess.run(["bash", str(REPO / "infra/kafka/start.sh")], env=env, check=True,
                       capture_output=True, text=True, timeout=600)
    except (subprocess.SubprocessError, OSError) as error:
        unavailable(f"infra/kafka/start.sh failed: {getattr(error, 'stderr', '') or error}")
    try:
        yield f"kafka://127.0.0.1:{port}"
    finally:
        subprocess.run(["bash", str(REPO / "infra/kafka/stop.sh")], env=env, capture_output=True, timeout=120)


class Broker:
    """A broker of the test's own on a free port pair (``url``); ``start``/``stop`` as often as needed."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        port = port or free_port_pair()
        self.url = f"kafka://127.0.0.1:{port}"
        self.env = broker_env(port, data_dir, KAFKA_HEAP_OPTS="-Xmx512m -Xms128m")

    def start(self) -> None:
        subprocess.run(["bash", str(REPO / "infra/kafka/start.sh")], env=self.env, check=True,
                       capture_output=True, text=True, timeout=180)

    def stop(self) -> None:
        subprocess.run(["bash", str(REPO / "infra/kafka/stop.sh")], env=self.env, check=True,
                       capture_output=True, text=True, timeout=120)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path / "kafka")
    try:
        broker.start()
    except (subprocess.SubprocessError, OSError) as error:
        unavailable(f"infra/kafka/start.sh failed: {getattr(error, 'stderr', '') or error}")
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def stream_names() -> dict[str, str]:
    """Unique app id and topic names (Settings field names) for one test."""
    return fresh_names("it")


def read_topic(kafka: str, topic: str, until: Callable[[list[Any]], bool], timeout: float = 90.0) -> list[Any]:
    """All messages of ``topic`` from the start, read until ``until(messages)`` or the timeout."""
    return asyncio.run(_read(kafka, topic, until, timeout))


async def _read(kafka: str, topic: str, until: Callable[[list[Any]], bool], timeout: float) -> list[Any]:
    from aiokafka import AIOKafkaConsumer
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka.split("://")[-1], auto_offset_reset="earliest",
                                enable_auto_commit=False, metadata_max_age_ms=1000)
    await consumer.start()
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(messages):
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                messages.extend(batch)
    finally:
        await consumer.stop()
    return messages


def final_records(messages: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """Trajectory id -> every final record seen for it, in topic order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        record = json.loads(message.value)
        if record["final"]:
            out.setdefault(record["id"], []).append(record)
    return out
