"""Same input, same output whatever the path: one file with event times and no end events through
`signals analyze`, `signals load`, `signals produce` + a worker, and `signals replay` (to
ClickHouse and to the topics). ClickHouse rows (every column but ``inserted_at``, every table) and
trajectory records are compared field by field."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from typing import Any

import msgspec
import pytest

from detectors.model import TrajectoryReport
from sinks.client import connect
from sinks.writer import Writer
from streams.cli import main
from streams.cli.commands.demo import free_port, stop, wait_for_worker, wait_landed
from streams.cli.output import report_to_dict
from streams.replay.kafka import Request, run_replay
from streams.replay.output import ClickHouseOutput, TopicOutput
from streams.replay.range import Bound
from streams.settings import Settings
from tests.builders import no_end_events
from tests.support.chdb import chdb_dsn
from tests.support.faults import sink_committed, wait_for
from tests.support.kafka import REPO, final_records, read_topic

pytestmark = pytest.mark.integration
V = "4.2.0"
TABLES = ("trajectories", "trajectory_versions", "signals", "events")
_DUMP = """
import json, sys
from sinks.client import connect
client, db = connect(sys.argv[1]), sys.argv[2]
out = {}
for table in sys.argv[3:]:
    result = client.query(f"SELECT * EXCEPT (inserted_at) FROM {db}.{table} FINAL")
    out[table] = [dict(zip(result.column_names, row)) for row in result.result_rows]
print(json.dumps(out, default=str))
"""


def dump(client: Any, database: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (FINAL), JSON-normalised and sorted: comparable across processes."""
    out = {}
    for table in TABLES:
        result = client.query(f"SELECT * EXCEPT (inserted_at) FROM {database}.{table} FINAL")
        out[table] = [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
    return normalised(json.loads(json.dumps(out, default=str)))


def dump_stopped_worker(dsn: str) -> dict[str, list[dict[str, Any]]]:
    done = subprocess.run([sys.executable, "-c", _DUMP, dsn, "signals", *TABLES], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return normalised(json.loads(done.stdout.strip().splitlines()[-1]))


def normalised(tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {table: sorted(rows, key=lambda row: json.dumps(row, sort_keys=True)) for table, rows in tables.items()}


def records_on(kafka: str, topic: str, count: int) -> dict[str, dict[str, Any]]:
    """The last final record of each trajectory on a trajectories topic."""
    messages = read_topic(kafka, topic, until=lambda ms: len(final_records(ms)) >= count)
    return {tid: found[-1] for tid, found in final_records(messages).items()}


def assert_same_rows(got: dict[str, list[dict[str, Any]]], want: dict[str, list[dict[str, Any]]], path: str) -> None:
    for table in TABLES:
        assert len(got[table]) == len(want[table]), f"{path}: {table} row count"
        for row, expected in zip(got[table], want[table], strict=True):
            assert row == expected, f"{path}: {table}"


def test_analyze_load_worker_and_replay_give_the_same_rows_and_records(
        kafka_url, stream_names, start_worker, tmp_path, capsys) -> None:
    events = no_end_events(5)
    path = tmp_path / "no-end.jsonl"
    path.write_text("".join(msgspec.json.encode(e).decode() + "\n" for e in events))
    ids = sorted({e.trajectory_id for e in events})

    # analyze (each trajectory scored alone, as the streaming record is)
    assert main(["analyze", "--no-cohort", "--format", "jsonl", "--pipeline-version", V, str(path)]) == 0
    analyzed = {row["id"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}

    # load
    loaded_db = f"same_load_{uuid.uuid4().hex[:8]}"
    assert main(["load", "--dsn", chdb_dsn(), "--database", loaded_db, "--pipeline-version", V, str(path)]) == 0
    loaded = dump(connect(chdb_dsn()), loaded_db)

    # produce + worker (its own embedded ClickHouse, read after it stopped)
    worker_dsn = f"chdb://{tmp_path / 'worker-ch'}"
    worker = start_worker(f"--pipeline-version={V}", f"--clickhouse={worker_dsn}", f"--web-port={free_port()}")
    url = wait_for_worker(worker, worker_dsn, tmp_path / "worker-0.log")
    assert main(["produce", "--kafka", kafka_url, "--topic-events", stream_names["topic_events"], "--batch", "3",
                 str(path)]) == 0
    wait_landed(worker, url, ids, tmp_path / "worker-0.log")
    # the raw events are written by their own consumer group (streams/worker/events_sink.py), not
    # before the records: wait until it has committed (written) every event too
    wait_for(lambda: sink_committed(kafka_url, stream_names), 60, "the raw-events sink to write every event")
    streamed_records = records_on(kafka_url, stream_names["topic_trajectories"], len(ids))
    stop(worker)
    streamed = dump_stopped_worker(worker_dsn)

    # replay of what was produced: to ClickHouse, and to fresh output topics
    settings = Settings.from_env({"kafka": kafka_url, **{k: v for k, v in stream_names.items() if k != "app_id"},
                                  "topic_trajectories": f"replayed-{uuid.uuid4().hex[:8]}"})
    replay_db = f"same_replay_{uuid.uuid4().hex[:8]}"
    client = connect(chdb_dsn())
    main(["migrate", "--dsn", chdb_dsn(), "--database", replay_db])
    whole = Request(Bound("beginning"), Bound("end"), V)
    asyncio.run(run_replay(settings, whole, ClickHouseOutput(Writer(lambda: client, replay_db)), key="ch", path=None))
    replayed = dump(client, replay_db)
    topic = TopicOutput(settings)

    async def to_topics() -> None:
        await topic.start()
        try:
            await run_replay(settings, whole, topic, key="topic", path=None)
        finally:
            await topic.stop()

    asyncio.run(to_topics())
    replayed_records = records_on(kafka_url, settings.topic_trajectories, len(ids))

    # ClickHouse rows: load == worker == replay, every table, every column
    assert [len(loaded[t]) for t in TABLES] == [5, 5, sum(len(r["signals"]) for r in streamed_records.values()),
                                                len(events) + 5]
    assert_same_rows(loaded, streamed, "load vs worker")
    assert_same_rows(replayed, streamed, "replay vs worker")
    # records: the worker's topic == replay's topic == the record stored by load == analyze's output
    assert sorted(streamed_records) == ids
    assert replayed_records == streamed_records
    stored = {row["trajectory_id"]: json.loads(row["record"]) for row in loaded["trajectories"]}
    assert stored == streamed_records
    for tid, record in streamed_records.items():
        assert report_to_dict(msgspec.convert(record, TrajectoryReport)) == analyzed[tid], tid
