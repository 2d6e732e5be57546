"""streams/worker/shutdown.py without a broker: ports, the forced exit, the report line."""

from __future__ import annotations

import logging
import re
import socket
from types import SimpleNamespace

import pytest
from faust.types import TP

from streams.worker import shutdown as stop


def test_a_port_someone_listens_on_is_reported_with_the_variable_to_set() -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(stop.PortInUse) as raised:
            stop.check_port(port, "SIGNALS_WEB_PORT")
    assert str(raised.value).startswith(f"port {port} is in use, probably by another worker; set SIGNALS_WEB_PORT")
    stop.check_port(port, "SIGNALS_WEB_PORT")  # free again
    stop.check_port(0, "SIGNALS_WEB_PORT")  # 0: disabled, nothing to check


def test_the_first_signal_starts_the_stop_and_a_forced_exit_reports_once(caplog) -> None:
    exits: list[int] = []
    closed: list[str] = []
    shutdown = stop.Shutdown(SimpleNamespace(), 30.0, exit=exits.append)
    shutdown.closers.append(lambda: closed.append("metrics"))
    with caplog.at_level(logging.WARNING, logger="signals.worker"):
        assert shutdown.begin("SIGINT") is True
        assert shutdown.begin("SIGINT") is False  # already stopping
        shutdown.force("a second SIGINT", stop.EXIT_INTERRUPTED)
        shutdown.force("again", stop.EXIT_TIMEOUT)
    assert exits == [stop.EXIT_INTERRUPTED, stop.EXIT_TIMEOUT]
    shutdown.release()
    assert closed == ["metrics"]
    reports = [r.getMessage() for r in caplog.records if "ended by force" in r.getMessage()]
    assert len(reports) == 1 and "SIGINT ended by force (a second SIGINT)" in reports[0]
    shutdown.finished()  # cancels the watchdog


def test_the_report_counts_what_was_committed_and_what_was_left_per_topic() -> None:
    committed = {TP("events", 0): 90, TP("events", 1): 50, TP("traj", 0): 7, TP("changelog", 0): 3}
    highwaters = {TP("events", 0): 100, TP("events", 1): 50, TP("traj", 0): 7}
    assert stop.describe_offsets(committed, highwaters) == "committed events 140/150 (10 left), traj 7/7"
    assert stop.describe_offsets({}, {}) == "nothing committed (no partitions assigned)"


def test_exit_codes_are_distinct() -> None:
    codes = [stop.EXIT_OK, stop.EXIT_CRASHED, stop.EXIT_USAGE, stop.EXIT_PORT_IN_USE, stop.EXIT_INCOMPATIBLE,
             stop.EXIT_TIMEOUT, stop.EXIT_INTERRUPTED]
    assert len(set(codes)) == len(codes) and stop.EXIT_OK == 0


def test_a_store_from_another_cluster_or_past_its_changelog_is_a_mismatch() -> None:
    from streams.worker.local_store import mismatch

    persisted = {("sessions", 0): 14, ("sessions", 1): 3}
    assert mismatch("A", "A", persisted, {("sessions", 0): 15, ("sessions", 1): 4}) is None
    assert mismatch(None, "A", {}, {}) is None  # first start
    assert "cluster A" in (mismatch("A", "B", persisted, {("sessions", 0): 15, ("sessions", 1): 4}) or "")
    found = mismatch(None, "B", persisted, {("sessions", 0): 0})  # a fresh cluster: empty changelog
    assert found == "table sessions partition 0 applied changelog offset 14, but the changelog ends at 0"


def test_past_its_bound_the_stop_logs_what_every_thread_and_task_was_doing(caplog) -> None:
    import asyncio
    import threading

    exits: list[int] = []
    shutdown = stop.Shutdown(SimpleNamespace(), 30.0, exit=exits.append)
    release = threading.Event()
    stuck = threading.Thread(target=release.wait, name="stuck-thread", daemon=True)
    stuck.start()

    async def leave_the_group() -> None:
        await asyncio.sleep(3600)

    async def main() -> None:
        asyncio.get_running_loop().create_task(leave_the_group(), name="leave-group")
        await asyncio.sleep(0)
        shutdown.begin("SIGTERM")
        with caplog.at_level(logging.WARNING, logger="signals.worker"):
            await asyncio.get_running_loop().run_in_executor(None, shutdown.timed_out)  # the watchdog's thread

    asyncio.run(main())
    release.set()
    assert exits == [stop.EXIT_TIMEOUT]
    dump = next(r.getMessage() for r in caplog.records if "past its bound" in r.getMessage())
    assert "thread stuck-thread:\n" in dump and "in wait\n" in dump.split("thread stuck-thread:")[1]
    assert "task leave-group: test_past_its_bound_the_stop_logs_what_every_thread_and_task_was_doing." \
           "<locals>.leave_the_group -> sleep (" in dump
    shutdown.finished()


def test_the_stop_dump_names_what_each_thread_and_each_loops_tasks_wait_for() -> None:
    """A stop past its bound logs what is still running, the tasks of a service thread's own loop
    (Faust's consumer thread) included: a hang there would otherwise show only as a thread in
    run_until_complete."""
    import asyncio
    import threading

    ready, release = threading.Event(), threading.Event()

    async def parked_in_the_thread() -> None:
        await asyncio.sleep(30)

    def other_thread() -> None:
        async def main() -> None:
            task = asyncio.get_running_loop().create_task(parked_in_the_thread(), name="parked")
            await asyncio.sleep(0)
            ready.set()
            while not release.is_set():
                await asyncio.sleep(0.01)
            task.cancel()
        asyncio.run(main())

    async def waiting_here() -> None:
        await asyncio.sleep(30)

    async def dump() -> str:
        mine = asyncio.get_running_loop().create_task(waiting_here(), name="mine")
        await asyncio.sleep(0)
        try:
            return stop.still_running(asyncio.get_running_loop())
        finally:
            mine.cancel()

    thread = threading.Thread(target=other_thread, name="service-thread")
    thread.start()
    try:
        assert ready.wait(10)
        text = asyncio.run(dump())
    finally:
        release.set()
        thread.join(10)
    assert "thread service-thread:" in text
    assert re.search(r"^task mine: \S*waiting_here -> sleep ", text, re.M)
    assert re.search(r"^task parked \(loop of another thread\): \S*parked_in_the_thread -> sleep ", text, re.M)
    assert "task mine (loop of another thread)" not in text
