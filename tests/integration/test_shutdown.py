"""A worker that is told to stop, stops (issue 15): the shutdown matrix.

Each case sends SIGTERM (SIGINT for the double-interrupt case) to a worker SUBPROCESS in a given
situation -- idle, mid-batch under a backlog, during a rebalance, during a ClickHouse outage,
during a broker outage -- and checks that it exits within ``SIGNALS_SHUTDOWN_TIMEOUT_S`` (set to
``BOUND_S`` here) with the documented exit code and its one-line report, and that a restarted
worker then produces every final record identical to a clean run (``faults.assert_exactly_once``
on ClickHouse, or every final record on the topic). The looping reproduction of the wait_empty hang
is ``bench/shutdown_loop.py``; ``test_sigterm_as_the_last_records_appear_exits_every_time`` is its
short sample.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import pytest

from streams.worker.shutdown import EXIT_INTERRUPTED, EXIT_OK, EXIT_PORT_IN_USE, EXIT_TIMEOUT
from tests.support.faults import (
    VERSION,
    assert_exactly_once,
    expected,
    group_lag,
    inspect_chdb,
    members_own_events,
    produce_in_background,
    sink_committed,
    wait_for,
    wait_group_state,
    wait_joined,
    workload,
)
from tests.support.kafka import REPO, final_records, free_port, read_topic
from tests.support.worker import SHUTDOWN_BOUND_S, signal_and_time, worker_argv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

BOUND_S = SHUTDOWN_BOUND_S  # SIGNALS_SHUTDOWN_TIMEOUT_S in these tests (default 30)
REPORT = "committed "  # in the one line a stopping worker logs: "... stopped cleanly after 1.2s: committed ..."


@pytest.fixture(autouse=True)
def _bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALS_SHUTDOWN_TIMEOUT_S", str(BOUND_S))


def log_of(tmp_path: Path, index: int) -> str:
    return (tmp_path / f"worker-{index}.log").read_text(errors="replace")


def report_line(log: str) -> str:
    lines = [line for line in log.splitlines() if " after " in line and REPORT in line]
    assert len(lines) == 1, f"expected one shutdown report line, got {lines!r}"
    return lines[0]


def sink_flags(tmp_path: Path) -> tuple[str, ...]:
    return (f"--clickhouse=chdb://{tmp_path / 'ch'}", f"--pipeline-version={VERSION}", "--sink-within=0.2")


def test_sigterm_while_idle_exits_zero_at_once_and_says_what_it_committed(
        kafka_url, stream_names, start_worker, tmp_path) -> None:
    worker = start_worker(*sink_flags(tmp_path))
    wait_joined(kafka_url, stream_names)
    code, seconds = signal_and_time(worker)
    assert code == EXIT_OK
    assert seconds < BOUND_S
    line = report_line(log_of(tmp_path, 0))
    assert "SIGTERM stopped cleanly" in line and stream_names["topic_events"] in line
    print(f"\nidle SIGTERM -> exit in {seconds:.1f}s")


@pytest.mark.parametrize("run", range(3))
def test_sigterm_as_the_last_records_appear_exits_every_time(
        kafka_url, stream_names, start_worker, tmp_path, run) -> None:
    """The short sample of bench/shutdown_loop.py (issue 15's report: a drained backlog, SIGTERM the
    moment the last final record appears, while the last batches' acks and commits are in flight)."""
    data = workload(300, f"last{run}")
    produce_in_background(kafka_url, stream_names["topic_events"], data, rate=0).join(timeout=120)
    worker = start_worker(*sink_flags(tmp_path))
    read_topic(kafka_url, stream_names["topic_trajectories"], until=lambda ms: len(final_records(ms)) >= len(data))
    code, seconds = signal_and_time(worker)
    assert code == EXIT_OK
    assert seconds < BOUND_S
    assert "stopped cleanly" in report_line(log_of(tmp_path, 0))
    print(f"\nSIGTERM as the last records appear (run {run}) -> exit in {seconds:.1f}s")


def test_sigterm_mid_batch_under_a_backlog_then_a_restart_lands_everything_once(
        kafka_url, stream_names, start_worker, tmp_path) -> None:
    data = workload(400, "backlog")
    produce_in_background(kafka_url, stream_names["topic_events"], data, rate=0).join(timeout=120)
    first = start_worker(*sink_flags(tmp_path))
    read_topic(kafka_url, stream_names["topic_trajectories"], until=lambda ms: len(final_records(ms)) >= 50)
    code, seconds = signal_and_time(first)  # the ingest and both sinks are mid-batch
    assert code == EXIT_OK
    assert seconds < BOUND_S
    done, end = group_lag(kafka_url, stream_names["app_id"], stream_names["topic_events"])
    assert done < end, "the stop came too late: the backlog was already drained"
    report_line(log_of(tmp_path, 0))
    second = start_worker(*sink_flags(tmp_path))
    wait_for(lambda: sink_committed(kafka_url, stream_names), 120,
             "the restarted worker to commit everything")
    assert signal_and_time(second)[0] == EXIT_OK
    assert_exactly_once(inspect_chdb(tmp_path / "ch"), data)
    print(f"\nmid-batch SIGTERM -> exit in {seconds:.1f}s")


def test_sigterm_during_a_rebalance_exits_and_the_other_member_finishes_with_identical_records(
        kafka_url, stream_names, start_worker) -> None:
    data = workload(300, "rebal")
    want = expected(data)
    flags = ("--sink=false", f"--pipeline-version={VERSION}", "--session-timeout=6")
    leaving = start_worker(*flags)
    wait_joined(kafka_url, stream_names)
    producer = produce_in_background(kafka_url, stream_names["topic_events"], data, rate=600)
    read_topic(kafka_url, stream_names["topic_trajectories"], until=lambda ms: len(final_records(ms)) >= 20)
    start_worker(*flags)  # joins: the group rebalances ...
    wait_group_state(kafka_url, stream_names["app_id"], REBALANCING, 30)
    code, seconds = signal_and_time(leaving)  # ... and the first member is told to stop meanwhile
    assert code == EXIT_OK
    assert seconds < BOUND_S
    producer.join(timeout=60)
    messages = read_topic(kafka_url, stream_names["topic_trajectories"],
                          until=lambda ms: len(final_records(ms)) >= len(want), timeout=120)
    finals = final_records(messages)
    assert finals.keys() == want.keys()
    for tid, records in finals.items():
        assert all(r == want[tid] for r in records), tid
    wait_for(lambda: members_own_events(kafka_url, stream_names, members=1), 30, "the survivor to own everything")
    print(f"\nSIGTERM during a rebalance -> exit in {seconds:.1f}s")


REBALANCING = ("PreparingRebalance", "CompletingRebalance")  # between generations: a member joined or left


def test_sigterm_during_a_clickhouse_outage_exits_zero_and_a_restart_writes_the_held_batch(
        kafka_url, stream_names, start_worker, tmp_path, monkeypatch) -> None:
    data = workload(60, "chdown")
    block = tmp_path / "clickhouse-down"
    block.touch()
    monkeypatch.setenv("SIGNALS_FAULT_SINK_BLOCK_FILE", str(block))
    first = start_worker(*sink_flags(tmp_path))
    wait_joined(kafka_url, stream_names)
    produce_in_background(kafka_url, stream_names["topic_events"], data, rate=0).join(timeout=60)
    read_topic(kafka_url, stream_names["topic_trajectories"], until=lambda ms: len(final_records(ms)) == len(data))
    wait_for(lambda: "ClickHouse unavailable" in log_of(tmp_path, 0), 30, "the sink to hold its batch")
    done, end = group_lag(kafka_url, stream_names["app_id"], stream_names["topic_trajectories"])
    code, seconds = signal_and_time(first)
    assert code == EXIT_OK  # before: 75, exiting without the stop
    assert seconds < BOUND_S
    assert group_lag(kafka_url, stream_names["app_id"], stream_names["topic_trajectories"]) == (done, end), \
        "the unwritten batch was committed"
    assert "released the unwritten batch" in log_of(tmp_path, 0)
    block.unlink()
    second = start_worker(*sink_flags(tmp_path))
    wait_for(lambda: sink_committed(kafka_url, stream_names), 120,
             "the restarted worker to write and commit everything")
    assert signal_and_time(second)[0] == EXIT_OK
    assert_exactly_once(inspect_chdb(tmp_path / "ch"), data)
    print(f"\nSIGTERM during a ClickHouse outage -> exit in {seconds:.1f}s")


def test_sigterm_during_a_broker_outage_exits_within_the_bound_and_a_restart_lands_everything_once(
        own_broker, stream_names, start_worker, tmp_path) -> None:
    data = workload(400, "brdown")
    kafka = own_broker.url
    flags = (*sink_flags(tmp_path), "--session-timeout=10")
    produce_in_background(kafka, stream_names["topic_events"], data, rate=0).join(timeout=120)
    first = start_worker(*flags, kafka=kafka)
    read_topic(kafka, stream_names["topic_trajectories"], until=lambda ms: len(final_records(ms)) >= 10)
    own_broker.stop()  # mid-backlog: batches in hand, records to publish, offsets to commit
    code, seconds = signal_and_time(first)  # no broker to commit to or to leave the group on
    assert code in (EXIT_OK, EXIT_TIMEOUT)
    assert seconds < BOUND_S
    report_line(log_of(tmp_path, 0))
    own_broker.start()
    second = start_worker(*flags, kafka=kafka)
    wait_for(lambda: sink_committed(kafka, stream_names), 120,
             "the restarted worker to process and commit everything")
    assert signal_and_time(second)[0] == EXIT_OK
    assert_exactly_once(inspect_chdb(tmp_path / "ch"), data)
    print(f"\nSIGTERM during a broker outage -> exit {code} in {seconds:.1f}s")


def test_a_second_sigint_exits_at_once(kafka_url, stream_names, start_worker, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SIGNALS_SHUTDOWN_TIMEOUT_S", "60")  # the second SIGINT, not the bound, ends it
    worker = start_worker(*sink_flags(tmp_path))
    wait_joined(kafka_url, stream_names)
    worker.send_signal(signal.SIGINT)
    wait_for(lambda: "SIGINT: stopping" in log_of(tmp_path, 0), 30, "the first SIGINT to start the stop", poll=0.02)
    code, seconds = signal_and_time(worker, signal.SIGINT)  # a clean stop takes about a second more
    assert code == EXIT_INTERRUPTED
    assert seconds < 1
    assert "SIGINT ended by force (a second SIGINT)" in report_line(log_of(tmp_path, 0))
    print(f"\nsecond SIGINT -> exit {code} in {seconds:.2f}s")


def test_a_port_in_use_is_one_clear_message_and_its_own_exit_code(kafka_url, stream_names, tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = worker_argv(kafka_url, stream_names, tmp_path / "data", f"--web-port={port}")
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_PORT_IN_USE
    assert f"port {port} is in use, probably by another worker; set SIGNALS_WEB_PORT" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_the_ports_are_released_when_the_worker_exits(kafka_url, stream_names, start_worker, tmp_path) -> None:
    web, metrics = free_port(), free_port()
    worker = start_worker(*sink_flags(tmp_path), f"--web-port={web}", f"--metrics-port={metrics}")
    wait_for(lambda: listening(web) and listening(metrics), 60, "the web and metrics servers")
    code = signal_and_time(worker)[0]
    assert code == EXIT_OK, f"exit {code}; the worker's log ends:\n{log_of(tmp_path, 0)[-6000:]}"
    assert not listening(web) and not listening(metrics)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
