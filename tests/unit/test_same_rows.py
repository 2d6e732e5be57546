"""`signals load` and the worker give the same ClickHouse rows for the same file (no broker, no
ClickHouse: the rows each path hands to the client are compared, table by table, field by field).

The file has event times and no end events: the two things that made the paths differ (signal
rows dated per event vs from the record, and an end event only on the produced path)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from detectors.adapters import read_trajectories
from sinks.writer import Writer
from streams.cli.commands import load as load_command
from streams.cli.commands.produce import chunks, with_end
from streams.codec import encode_events
from streams.worker.events_sink import batch_events
from streams.worker.sink_agent import newest_records
from tests.builders import no_end_events

V = "3.1.0"


class FakeClient:
    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def insert(self, table: str, rows: list[Any], *, column_names: list[str], database: str,
               settings: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).extend(dict(zip(column_names, row, strict=True)) for row in rows)

    def close(self) -> None:
        pass


def write_file(path: Path) -> Path:
    path.write_text("".join(msgspec.json.encode(e).decode() + "\n" for e in no_end_events(3)))
    return path


def loaded_rows(path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[dict[str, Any]]]:
    client = FakeClient()
    monkeypatch.setattr(load_command, "open_direct", lambda *a, **k: (client, "signals"))
    monkeypatch.setattr(load_command, "migrate", lambda *a, **k: [])
    from streams.cli import main
    assert main(["load", "--pipeline-version", V, str(path)]) == 0
    return client.rows


@dataclass
class FakeMessage:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any = None
    timestamp: float = 0.0
    topic: str = "events"


@dataclass
class FakeEvent:  # a Faust stream event (weak-referenceable)
    message: FakeMessage


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []

    async def send(self, topic: str, key: Any, value: Any, partition: Any, timestamp: Any, headers: Any) -> None:
        self.sent.append((topic, key, value))


def worker_rows(path: Path) -> dict[str, list[dict[str, Any]]]:
    """produce (envelopes of 2) -> the ingest agent -> the trajectories topic -> the sink agents."""
    from streams.settings import Settings
    from streams.worker.agents import Ingest
    from streams.worker.metrics import Metrics
    from streams.worker.topics import Topics

    topic = SimpleNamespace(get_topic_name=lambda: "t")
    topics = Topics(events=topic, signals=SimpleNamespace(get_topic_name=lambda: "sig"),
                    trajectories=SimpleNamespace(get_topic_name=lambda: "traj"),
                    dlq=SimpleNamespace(get_topic_name=lambda: "dlq"))
    producer = FakeProducer()
    settings = Settings.from_env({"pipeline_version": V}, env={})
    ingest = Ingest(SimpleNamespace(producer=producer), topics, {}, settings, Metrics())
    inputs = [FakeMessage(0, i, t.id.encode(), encode_events(part))
              for i, (t, part) in enumerate((t, p) for t in read_trajectories(str(path)) for p in chunks(with_end(t), 2))]
    for message in inputs:  # one message per batch: the record is re-emitted as the session grows
        asyncio.run(ingest.process([FakeEvent(message)]))
    client = FakeClient()
    records = Writer(lambda: client, "signals", tables=("trajectories", "trajectory_versions", "signals"))
    records.write_reports(newest_records([v for t, _, v in producer.sent if t == "traj"]), [])
    records.flush()
    events = Writer(lambda: client, "signals", tables=("events",))
    events.write_reports([], batch_events([m.value for m in inputs], settings.max_event_bytes))
    events.flush()
    return client.rows


def ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=repr)


def test_load_and_the_worker_write_the_same_rows_for_a_file_without_end_events(tmp_path, monkeypatch) -> None:
    path = write_file(tmp_path / "no-end.jsonl")
    loaded, streamed = loaded_rows(path, monkeypatch), worker_rows(path)
    assert sorted(loaded) == sorted(streamed) == ["events", "signals", "trajectories", "trajectory_versions"]
    for table in loaded:
        assert len(loaded[table]) == len(streamed[table]), table
        for got, want in zip(ordered(loaded[table]), ordered(streamed[table]), strict=True):
            assert got == want, table
    assert sorted(row["events"] for row in loaded["trajectories"]) == [8, 9, 10]  # the end event counted
    assert len(loaded["signals"]) > 0
