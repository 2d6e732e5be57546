"""The worker's ClickHouse sink on a real broker and real chDB: records land, and outages hold consumption.

The worker subprocess owns its chDB path; the test reads through the worker's web view (the gateway).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from detectors.adapters import read_trajectories
from detectors.session import analyze
from sinks.gateway import post
from streams.cli.commands.produce import produce, with_end
from streams.settings import Settings
from streams.worker.events_sink import GROUP_SUFFIX
from tests.support.faults import group_lag, sink_committed, wait_for
from tests.support.kafka import final_records, free_port, read_topic
from tests.support.worker import sink_stalls, wait_url, worker_log

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TRAJECTORIES = [t for name in ("checklist.jsonl", "tau_bench_2.json", "sharegpt.json")
                for t in read_trajectories(str(FIXTURES / name))][:12]
IDS = [t.id for t in TRAJECTORIES]


def send(kafka: str, names: dict[str, str]) -> None:
    asyncio.run(produce(Settings(kafka=kafka, topic_events=names["topic_events"]), TRAJECTORIES, batch=5))


def wait_landed(url: str, expected: int, timeout: float = 90.0) -> int:
    deadline, landed = time.monotonic() + timeout, -1
    while time.monotonic() < deadline and landed != expected:
        with contextlib.suppress(OSError):  # refused, or 503 before the schema exists
            landed = post(url, "landed", {"ids": IDS})[0]["final"]
        time.sleep(0.3)
    return landed


def stalls(tmp_path: Path) -> int:
    """Failed ClickHouse attempts of the first worker's sinks so far (schema, records, events)."""
    return sum(sink_stalls(worker_log(tmp_path), what) for what in ("migrate", "records", "events"))


def test_records_signals_and_events_land_once_per_trajectory_as_analyzed(start_worker, kafka_url, stream_names, tmp_path):
    dsn = f"chdb://{tmp_path / 'ch'}"
    proc = start_worker(f"--clickhouse={dsn}", f"--web-port={free_port()}", "--sink-within=0.2")
    url = wait_url(dsn, proc)
    send(kafka_url, stream_names)
    assert wait_landed(url, len(IDS)) == len(IDS)
    wait_for(lambda: sink_committed(kafka_url, stream_names), 60, "the raw-events sink to write every event")
    exported = {row["id"]: row for row in post(url, "export", {"strategy": "random", "n": 1000})}
    assert sorted(exported) == sorted(IDS)  # one row per trajectory
    for trajectory in TRAJECTORIES:
        expected, row = analyze(trajectory.id, with_end(trajectory)), exported[trajectory.id]  # what was produced
        record = row["record"]
        assert (record["quality"], record["triage_score"], record["counts"]) == (
            expected.quality, expected.triage_score, expected.counts), trajectory.id
        assert sorted((s["type"], s["index"]) for s in row["signals"]) == sorted(
            (s.type, s.index) for s in expected.signals)
        assert [e["seq"] for e in row["events"]] == [e.seq for e in with_end(trajectory)]
    stats = post(url, "stats", {})
    assert sum(r["trajectories"] for r in stats if r["section"] == "quality") == len(IDS)


def test_bad_query_is_answered_400(start_worker, tmp_path):
    dsn = f"chdb://{tmp_path / 'ch'}"
    url = wait_url(dsn, start_worker(f"--clickhouse={dsn}", f"--web-port={free_port()}"))
    from sinks.service import QueryError
    with pytest.raises(QueryError, match="op must be one of"):
        post(url, "drop_everything", {})
    with pytest.raises(QueryError, match="n must be between"):
        post(url, "sample", {"n": 0})


def test_outage_holds_the_batch_and_a_restart_with_clickhouse_drains_it(start_worker, kafka_url, stream_names, tmp_path):
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    metrics = free_port()
    outage = start_worker(f"--clickhouse={down}", "--sink-within=0.2", "--commit-interval-s=0.2",
                          "--sink-max-backoff-s=1", f"--metrics-port={metrics}")
    send(kafka_url, stream_names)
    finals = final_records(read_topic(kafka_url, stream_names["topic_trajectories"],
                                      lambda m: len(final_records(m)) == len(IDS), timeout=90))
    assert len(finals) == len(IDS)  # the ingest agent kept running while ClickHouse was down
    # the records agent holds in the worker's group, the raw-events sink in its own (the worker's group
    # goes on reading events for ingest)
    groups = [(stream_names["app_id"], "topic_trajectories"), (stream_names["app_id"] + GROUP_SUFFIX, "topic_events")]
    held = [group_lag(kafka_url, group, stream_names[topic]) for group, topic in groups]
    retried = stalls(tmp_path)
    # what must happen: the sink retries three more times (>= 1.5 s of backoff, >= 7 commit intervals
    # of 0.2 s); then nothing may have been committed past the unwritten batch
    wait_for(lambda: stalls(tmp_path) >= retried + 3 or outage.poll() is not None, 60, "the sink to retry")
    assert outage.poll() is None, "worker died instead of holding the batch"
    assert [group_lag(kafka_url, group, stream_names[topic]) for group, topic in groups] == held
    assert all(done < end for done, end in held), "records or events past the unwritten batch were committed"
    # what each sink's gauge must show (updated every 5 s): the records and the events not written
    for (done, end), gauge in zip(held, ("signals_records_sink_lag", "signals_sink_lag"), strict=True):
        lag = end - done
        wait_for(lambda gauge=gauge, lag=lag: scraped(metrics, gauge) == lag, 30, f"{gauge} to sum to {lag}")
    outage.terminate()
    assert outage.wait(timeout=60) == 0  # stopped while stalled: a clean exit that leaves the batch uncommitted
    dsn = f"chdb://{tmp_path / 'ch'}"
    url = wait_url(dsn, start_worker(f"--clickhouse={dsn}", f"--web-port={free_port()}", "--sink-within=0.2"))
    assert wait_landed(url, len(IDS)) == len(IDS)
    wait_for(lambda: sink_committed(kafka_url, stream_names), 60, "the raw-events sink to write every event")
    assert sum(len(r["events"]) for r in post(url, "export", {"strategy": "random", "n": 1000})) == sum(
        len(with_end(t)) for t in TRAJECTORIES)


def scraped(port: int, name: str) -> float:
    """The sum of the series of the worker's gauge ``name``, scraped from its /metrics."""
    from urllib.request import urlopen

    from prometheus_client.parser import text_string_to_metric_families
    text = urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(sample.value for family in text_string_to_metric_families(text) if family.name == name
               for sample in family.samples)
