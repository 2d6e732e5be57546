"""Spike alerts on a real broker and real chDB: a worker, a steady stream with one spike -> exactly the
expected alerts on the alerts topic and in ClickHouse (read through the worker's web view)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import msgspec
import pytest

from sinks.alerts import recent_alerts
from sinks.gateway import post
from sinks.writer import Writer
from streams.cli.commands.produce import produce
from streams.kafka import client_options, ensure_topics
from streams.replay.kafka import Request, run_replay
from streams.replay.output import ClickHouseOutput
from streams.replay.range import Bound
from streams.settings import Settings
from tests.support.kafka import free_port, read_topic
from tests.support.spikes import (
    ALERT_FLAGS,
    ALERT_SETTINGS,
    SPIKE_WINDOW,
    T0,
    WINDOW_S,
    expected_alerts,
    spike_workload,
)
from tests.support.worker import wait_url

pytestmark = pytest.mark.integration


def stored_alerts(url: str, want: int, timeout: float = 60.0) -> list[dict]:
    deadline, rows = time.monotonic() + timeout, []
    while time.monotonic() < deadline and len(rows) < want:
        with contextlib.suppress(OSError):  # 503 until the schema exists
            rows = post(url, "alerts", {"n": 100})
        time.sleep(0.3)
    return rows


def test_a_spike_alerts_once_on_the_topic_and_in_clickhouse_and_the_steady_part_never(
        start_worker, kafka_url, stream_names, tmp_path) -> None:
    data = spike_workload()
    want = [json.loads(json.dumps(a, default=lambda s: {f: getattr(s, f) for f in s.__struct_fields__}))
            for a in expected_alerts(data)]
    assert [(a["agent_id"], (a["window_start"] - T0) // WINDOW_S) for a in want] == [
        ("steady-bot", SPIKE_WINDOW), ("marker-bot", 10)]  # the oracle: one spike, and the marker
    asyncio.run(produce(Settings(kafka=kafka_url, topic_events=stream_names["topic_events"]), data, batch=2))
    dsn = f"chdb://{tmp_path / 'ch'}"
    url = wait_url(dsn, start_worker(f"--clickhouse={dsn}", f"--web-port={free_port()}", *ALERT_FLAGS))
    messages = read_topic(kafka_url, stream_names["topic_alerts"],
                          lambda m: any(b"marker-bot" in x.value for x in m), timeout=120)
    # the marker's alert (the last window) came: every earlier window has closed by now
    got = [json.loads(m.value) for m in messages]
    assert got == [{**a, "pipeline_version": got[0]["pipeline_version"]} for a in want]
    assert [m.key for m in messages] == [f"{a['agent_id']}|{a['category']}|{a['window_start']}".encode() for a in want]
    rows = stored_alerts(url, len(want))
    assert sorted((r["agent_id"], r["category"], r["window_start"], r["window_end"], r["count"], r["baseline"])
                  for r in rows) == sorted(
        (a["agent_id"], a["category"], a["window_start"], a["window_end"], a["count"], a["baseline"]) for a in want)


def test_a_replay_of_the_input_topic_writes_the_same_alerts(kafka_url, stream_names, ch) -> None:
    client, database = ch
    settings = Settings.from_env({"kafka": kafka_url, **ALERT_SETTINGS,
                                  **{k: v for k, v in stream_names.items() if k != "app_id"}}, env={})
    data = spike_workload(prefix="rpl")
    asyncio.run(ensure_topics(settings, client_options(settings)))
    asyncio.run(produce(settings, data, batch=3))
    output = ClickHouseOutput(Writer(lambda: client, database))

    async def replay() -> list:
        outcome = await run_replay(settings, Request(Bound("beginning"), Bound("end"), "r1", alerts=True), output,
                                   key="alerts", path=None)
        output.emit_alerts(outcome.alerts)
        await output.commit()
        return outcome.alerts

    alerts = asyncio.run(replay())
    want = [msgspec.structs.replace(a, pipeline_version="r1") for a in expected_alerts(data)]
    assert alerts == want and len(want) == 2
    stored = recent_alerts(client, database)
    assert sorted((r["agent_id"], r["window_start"], r["count"], r["pipeline_version"]) for r in stored) == sorted(
        (a.agent_id, a.window_start, a.count, "r1") for a in want)
