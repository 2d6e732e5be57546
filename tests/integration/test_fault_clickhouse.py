"""ClickHouse goes away and comes back while the worker keeps running: backpressure, then a full drain.

The outage is the test hook ``SIGNALS_FAULT_SINK_BLOCK_FILE``: while that file exists every insert of
the worker's sink fails as if the server were unreachable ("writer blocked"); reads still work, so
the test watches what has landed through the worker's web view.
"""

from __future__ import annotations

import contextlib
import time

import pytest

from sinks.gateway import post
from tests.support.faults import (
    VERSION,
    assert_exactly_once,
    committed_to_end,
    group_lag,
    inspect_chdb,
    members_own_events,
    produce_in_background,
    sink_committed,
    stop,
    wait_for,
    wait_joined,
    workload,
)
from tests.support.kafka import final_records, free_port, read_topic
from tests.support.worker import sink_stalls, wait_url, worker_log

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
# many commits per sink retry, and retries at most 1 s apart: a held batch is seen held for several
# commit intervals by counting the sink's retries (instead of sleeping)
FAST_RETRIES = ("--commit-interval-s=0.2", "--sink-max-backoff-s=1")


def landed(url: str, ids: list[str]) -> int:
    with contextlib.suppress(OSError):  # refused, or 503 before the schema exists
        return int(post(url, "landed", {"ids": ids})[0]["final"])
    return -1


def test_writer_blocked_holds_consumption_and_drains_when_clickhouse_returns(
        kafka_url, stream_names, start_worker, tmp_path, monkeypatch) -> None:
    before, during = workload(40, "pre"), workload(80, "out")
    ids = [t.id for t in before + during]
    block = tmp_path / "clickhouse-down"
    monkeypatch.setenv("SIGNALS_FAULT_SINK_BLOCK_FILE", str(block))
    dsn = f"chdb://{tmp_path / 'ch'}"
    worker = start_worker(f"--clickhouse={dsn}", f"--web-port={free_port()}", f"--pipeline-version={VERSION}",
                          "--sink-within=0.2", *FAST_RETRIES)
    url = wait_url(dsn, worker)
    produce_in_background(kafka_url, stream_names["topic_events"], before, rate=0).join(timeout=60)
    wait_for(lambda: landed(url, ids) == len(before), 60, "the first trajectories to land")

    block.touch()  # ClickHouse "goes away"
    produce_in_background(kafka_url, stream_names["topic_events"], during, rate=400).join(timeout=60)
    read_topic(kafka_url, stream_names["topic_trajectories"],
               until=lambda ms: len(final_records(ms)) == len(ids))  # ingest keeps running
    held = group_lag(kafka_url, stream_names["app_id"], stream_names["topic_trajectories"])
    retried = sink_stalls(worker_log(tmp_path))
    # what must happen: the records sink retries its batch three more times (>= 1.5 s of backoff, so
    # >= 7 commit intervals of 0.2 s); then nothing of the held topic may have been committed
    wait_for(lambda: sink_stalls(worker_log(tmp_path)) >= retried + 3 or worker.poll() is not None, 60,
             "the records sink to retry its unwritten batch")
    assert worker.poll() is None, "the worker died instead of holding the batch"
    assert group_lag(kafka_url, stream_names["app_id"], stream_names["topic_trajectories"]) == held
    assert held[0] < held[1], "records past the unwritten batch were committed"
    assert landed(url, ids) == len(before)

    block.unlink()  # ClickHouse is back: the same worker drains the backlog
    wait_for(lambda: landed(url, ids) == len(ids), 60, "the backlog to drain")
    wait_for(lambda: sink_committed(kafka_url, stream_names), 60,
             "the drained offsets to be committed")
    assert stop(worker) == 0
    assert_exactly_once(inspect_chdb(tmp_path / "ch"), before + during)


def test_a_rebalance_during_an_outage_releases_the_held_batch_and_the_group_moves_on(
        kafka_url, stream_names, start_worker, tmp_path, monkeypatch) -> None:
    data = workload(60, "reb")
    ids = [t.id for t in data]
    block = tmp_path / "clickhouse-down"
    block.touch()  # ClickHouse is down from the start
    monkeypatch.setenv("SIGNALS_FAULT_SINK_BLOCK_FILE", str(block))
    monkeypatch.setenv("SIGNALS_SINK_EVENTS", "false")  # records only: the second member has no sink
    dsn = f"chdb://{tmp_path / 'ch'}"
    common = (f"--pipeline-version={VERSION}", "--session-timeout=6")
    holder = start_worker(f"--clickhouse={dsn}", f"--web-port={free_port()}", "--sink-within=0.2", *common)
    url = wait_url(dsn, holder)
    wait_joined(kafka_url, stream_names)
    produce_in_background(kafka_url, stream_names["topic_events"], data, rate=0).join(timeout=60)
    read_topic(kafka_url, stream_names["topic_trajectories"], until=lambda ms: len(final_records(ms)) == len(ids))
    done, end = group_lag(kafka_url, stream_names["app_id"], stream_names["topic_trajectories"])
    assert done < end, "records past the unwritten batch were committed"

    joined_at = time.monotonic()
    start_worker("--sink=false", *common)  # a new member: the group rebalances during the outage
    wait_for(lambda: members_own_events(kafka_url, stream_names, members=2), 40,
             "the group to rebalance although the sink holds an unwritten batch")
    rebalance_s = time.monotonic() - joined_at
    assert holder.poll() is None
    assert landed(url, ids) == 0
    assert group_lag(kafka_url, stream_names["app_id"], stream_names["topic_trajectories"])[0] == done

    block.unlink()  # ClickHouse is back: the released batch is read again and written once
    wait_for(lambda: landed(url, ids) == len(ids), 90, "the released batch to be written")
    wait_for(lambda: committed_to_end(kafka_url, stream_names, "topic_trajectories"), 60,
             "the records to be committed")
    assert stop(holder) == 0
    assert_exactly_once(inspect_chdb(tmp_path / "ch"), data, events=False)
    print(f"\nrebalance during a ClickHouse outage completed in {rebalance_s:.1f}s")

