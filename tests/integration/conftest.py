"""Real Apache Kafka for integration tests, plus helpers to run workers and read topics.

The broker: SIGNALS_KAFKA when it answers, else ``infra/kafka/start.sh`` on a free port with its
own data dir (stopped at the end). No broker: fail when SIGNALS_REQUIRE_INTEGRATION=1, else skip.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

REPO = Path(__file__).resolve().parents[2]


def _reachable(url: str) -> bool:
    host, _, port = url.split("://")[-1].split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except (OSError, ValueError):
        return False


def broker_env(port: int, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for infra/kafka/start.sh: both ports set explicitly, so a KAFKA_CONTROLLER_PORT
    inherited from the caller (.ci/run exports its own broker's) never collides."""
    return {**os.environ, "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(port + 1),
            "KAFKA_DATA_DIR": str(data_dir), **extra}


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
        if port < 65000 and not _reachable(f"kafka://127.0.0.1:{port + 1}"):
            return port
    raise RuntimeError("no free port pair")


def _unavailable(why: str) -> None:
    if os.environ.get("SIGNALS_REQUIRE_INTEGRATION") == "1":
        pytest.fail(f"Kafka broker required but unavailable: {why}")
    pytest.skip(f"no Kafka broker: {why}")


@pytest.fixture(scope="session")
def kafka_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("SIGNALS_KAFKA", "")
    if given and _reachable(given):
        yield given
        return
    port = _free_port_pair()
    env = broker_env(port, tmp_path_factory.mktemp("kafka"))
    try:
        subprocess.run(["bash", str(REPO / "infra/kafka/start.sh")], env=env, check=True,
                       capture_output=True, text=True, timeout=600)
    except (subprocess.SubprocessError, OSError) as error:
        _unavailable(f"infra/kafka/start.sh failed: {getattr(error, 'stderr', '') or error}")
    try:
        yield f"kafka://127.0.0.1:{port}"
    finally:
        subprocess.run(["bash", str(REPO / "infra/kafka/stop.sh")], env=env, capture_output=True, timeout=120)


@pytest.fixture
def stream_names() -> dict[str, str]:
    """Unique app id and topic names (Settings field names) for one test."""
    tag = uuid.uuid4().hex[:10]
    return {"app_id": f"it-{tag}", "topic_events": f"ev-{tag}", "topic_signals": f"sig-{tag}",
            "topic_trajectories": f"traj-{tag}", "topic_dlq": f"dlq-{tag}"}


def worker_argv(kafka: str, names: dict[str, str], data_dir: Path, *extra: str) -> list[str]:
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in names.items()]
    return [sys.executable, "-m", "streams.cli.commands.worker", f"--kafka={kafka}", "--store=memory://",
            f"--data-dir={data_dir}", "--web-port=0", "--metrics-port=0", *flags, *extra]


@pytest.fixture
def start_worker(kafka_url: str, stream_names: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``start_worker(*extra_flags)`` -> a running worker subprocess (killed at teardown)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"worker-{len(procs)}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(worker_argv(kafka_url, stream_names, tmp_path / "data", *extra),
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def read_topic(kafka: str, topic: str, until: Callable[[list[Any]], bool], timeout: float = 90.0) -> list[Any]:
    """All messages of ``topic`` from the start, read until ``until(messages)`` or the timeout."""
    return asyncio.run(_read(kafka, topic, until, timeout))


async def _read(kafka: str, topic: str, until: Callable[[list[Any]], bool], timeout: float) -> list[Any]:
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
