"""`signals worker --processes 2` on the real broker with the embedded ClickHouse (the default DSN kind):
two ingest processes in the worker's group, one sink process in ``<app_id>-sink`` (streams/worker/supervisor.py).

Every trajectory lands exactly once (``faults.assert_exactly_once``, against a clean batch run), both
ingest processes owned partitions while the stream flowed, and SIGTERM to the supervisor stops every
child cleanly within the shutdown bound of the shutdown tests.
"""

from __future__ import annotations

import os
import re

import pytest

from streams.worker.shutdown import EXIT_OK
from streams.worker.supervisor import SINK_GROUP_SUFFIX
from tests.support.faults import (
    VERSION,
    assert_exactly_once,
    committed_to_end,
    group_assignments,
    inspect_chdb,
    members_own_events,
    produce_in_background,
    raw_events_group,
    wait_for,
    workload,
)
from tests.support.worker import SHUTDOWN_BOUND_S, signal_and_time, worker_log

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture(autouse=True)
def _bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALS_SHUTDOWN_TIMEOUT_S", str(SHUTDOWN_BOUND_S))


def child_pids(log: str) -> dict[str, int]:
    """The children the supervisor announced: "supervising 3 worker processes: process-0 (pid 12), ..."."""
    return {name: int(pid) for name, pid in re.findall(r"([\w-]+) \(pid (\d+)\)", log.split("supervising", 1)[1])}


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_two_processes_land_every_trajectory_once_and_sigterm_stops_every_child_cleanly(
        kafka_url, stream_names, start_worker, tmp_path) -> None:
    data = workload(300, "procs")
    supervisor = start_worker("--processes=2", "--partitions=4", f"--clickhouse=chdb://{tmp_path / 'ch'}",
                              f"--pipeline-version={VERSION}", "--sink-within=0.2")
    wait_for(lambda: members_own_events(kafka_url, stream_names, members=2), 90, "both ingest processes to own partitions")
    owned = group_assignments(kafka_url, stream_names["app_id"], stream_names["topic_events"])
    assert sorted(p for member in owned for p in member) == [0, 1, 2, 3]  # split, none twice
    produce_in_background(kafka_url, stream_names["topic_events"], data, rate=0).join(timeout=120)
    sink_group = {**stream_names, "app_id": stream_names["app_id"] + SINK_GROUP_SUFFIX}
    wait_for(lambda: committed_to_end(kafka_url, stream_names, "topic_events")
             and committed_to_end(kafka_url, sink_group, "topic_trajectories")
             and committed_to_end(kafka_url, raw_events_group(sink_group), "topic_events"), 180,
             "the ingest and sink groups to commit everything")
    assert members_own_events(kafka_url, stream_names, members=2)  # no child left on the way
    pids = child_pids(worker_log(tmp_path))
    assert sorted(pids) == ["process-0", "process-1", "sink"]

    code, seconds = signal_and_time(supervisor)
    assert code == EXIT_OK
    assert seconds < SHUTDOWN_BOUND_S
    log = worker_log(tmp_path)
    assert log.count("SIGTERM stopped cleanly") == 3, log[-3000:]  # each child's own one-line report
    assert all(gone(pid) for pid in pids.values())
    assert_exactly_once(inspect_chdb(tmp_path / "ch"), data)
    print(f"\n--processes 2: SIGTERM -> every child stopped cleanly, supervisor exit in {seconds:.1f}s")
