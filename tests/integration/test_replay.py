"""`signals replay` against a real broker and chDB: versions supersede, nothing lost or doubled, resume."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from detectors.adapters import Trajectory
from detectors.session import analyze
from sinks.writer import Writer
from streams.cli.commands.produce import produce, with_end
from streams.codec import encode_report
from streams.kafka import client_options, ensure_topics
from streams.replay.kafka import Request, run_replay
from streams.replay.output import ClickHouseOutput, TopicOutput
from streams.replay.range import Bound
from streams.replay.report import dry_run
from streams.settings import Settings
from tests.support.faults import synthetic
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration
WHOLE = Request(Bound("beginning"), Bound("end"), "")


def settings_for(kafka_url: str, names: dict[str, str]) -> Settings:
    return Settings.from_env({"kafka": kafka_url, "partitions": 2, **{k: v for k, v in names.items() if k != "app_id"}})


def live_write(sink: Writer, trajectories: list[Trajectory], version: str) -> None:
    """What the live worker's sink does with final records."""
    sink.write_reports([analyze(t.id, with_end(t), pipeline_version=version) for t in trajectories],
                       [e for t in trajectories for e in with_end(t)])
    sink.flush()


def rows(client: Any, database: str, table: str = "trajectories") -> dict[str, list[tuple[str, dict]]]:
    out: dict[str, list[tuple[str, dict]]] = {}
    for tid, version, record in client.query(
            f"SELECT trajectory_id, pipeline_version, record FROM {database}.{table} FINAL").result_rows:
        out.setdefault(tid, []).append((version, json.loads(record)))
    return out


def builtins(trajectory: Trajectory, version: str) -> dict:
    return json.loads(msgspec.json.encode(analyze(trajectory.id, with_end(trajectory), pipeline_version=version)))


async def replay_into(settings: Settings, sink: Writer, version: str, path: Path, **kw: Any) -> Any:
    return await run_replay(settings, Request(WHOLE.start, WHOLE.stop, version), ClickHouseOutput(sink), key=f"k-{version}", path=path, **kw)


def test_replay_supersedes_older_version_while_events_keep_arriving(kafka_url, stream_names, ch, tmp_path) -> None:
    client, database = ch
    settings = settings_for(kafka_url, stream_names)
    old, new = synthetic(30, prefix="old"), synthetic(10, prefix="new")
    asyncio.run(ensure_topics(settings, client_options(settings)))
    asyncio.run(produce(settings, old, batch=2))
    sink = Writer(lambda: client, database)
    live_write(sink, old, "1.0.0")

    plans = asyncio.run(dry_run(settings, WHOLE))
    assert sum(p.trajectories for p in plans) == len(old) and not any(p.estimated for p in plans)
    assert sum(p.range.messages for p in plans) == sum((len(with_end(t)) + 1) // 2 for t in old)

    async def replay_while_producing() -> Any:
        arriving: list[asyncio.Task] = []

        def on_progress(done: int, total: int, events: int) -> None:  # the range is resolved by now
            if not arriving:
                arriving.append(asyncio.ensure_future(produce(settings, new, batch=1, rate=2000)))

        outcome = await replay_into(settings, sink, "2.0.0", tmp_path / "v2.json", progress=on_progress)
        await asyncio.gather(*arriving)
        return outcome

    outcome = asyncio.run(replay_while_producing())
    assert outcome.counters.final == len(old) and outcome.counters.records == len(old)
    live_write(sink, new, "1.0.0")  # the live worker handles what arrived after the range's end

    latest = rows(client, database)
    assert len(latest) == len(old) + len(new)
    assert all(len(v) == 1 for v in latest.values())  # FINAL: one row per trajectory
    assert {tid: v[0][0] for tid, v in latest.items()} == {
        **{t.id: "2.0.0" for t in old}, **{t.id: "1.0.0" for t in new}}
    assert {t.id: latest[t.id][0][1] for t in old} == {t.id: builtins(t, "2.0.0") for t in old}
    side_by_side = rows(client, database, "trajectory_versions")
    assert all(sorted(v for v, _ in side_by_side[t.id]) == ["1.0.0", "2.0.0"] for t in old)

    again = asyncio.run(replay_into(settings, sink, "1.0.0", tmp_path / "v1.json"))
    assert again.counters.final == len(old) + len(new)
    assert rows(client, database) == latest  # an older version changes nothing


def test_interrupted_replay_resumes_to_the_same_result(kafka_url, stream_names, ch, tmp_path) -> None:
    client, database = ch
    settings = settings_for(kafka_url, stream_names)
    trajectories = synthetic(24, prefix="resume")
    asyncio.run(ensure_topics(settings, client_options(settings)))
    asyncio.run(produce(settings, trajectories, batch=1))
    sink, path = Writer(lambda: client, database), tmp_path / "cp.json"

    first = asyncio.run(replay_into(settings, sink, "3.0.0", path, max_messages=40))
    assert first.interrupted and path.is_file()
    partial = {tid for tid, v in rows(client, database).items() if v[0][0] == "3.0.0"}
    assert len(partial) < len(trajectories)
    second = asyncio.run(replay_into(settings, sink, "3.0.0", path))
    assert second.resumed and not second.interrupted
    latest = rows(client, database)
    assert {t.id: latest[t.id] for t in trajectories} == {t.id: [("3.0.0", builtins(t, "3.0.0"))] for t in trajectories}
    third = asyncio.run(replay_into(settings, sink, "3.0.0", path))
    assert third.already_done


def test_topic_output_publishes_the_workers_records(kafka_url, stream_names, tmp_path) -> None:
    settings = settings_for(kafka_url, stream_names)
    trajectories = synthetic(6, prefix="topic")
    asyncio.run(ensure_topics(settings, client_options(settings)))
    asyncio.run(produce(settings, trajectories, batch=3))

    async def replay() -> Any:
        output = TopicOutput(settings)
        await output.start()
        try:
            return await run_replay(settings, Request(WHOLE.start, WHOLE.stop, "2.0.0"), output, key="t", path=None)
        finally:
            await output.stop()

    asyncio.run(replay())
    messages = read_topic(kafka_url, settings.topic_trajectories, until=lambda ms: len(ms) >= len(trajectories))
    got = {json.loads(m.value)["id"]: json.loads(m.value) for m in messages}
    assert got == {t.id: json.loads(encode_report(analyze(t.id, with_end(t), pipeline_version="2.0.0")))
                   for t in trajectories}
