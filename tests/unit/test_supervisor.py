"""`signals worker --processes N` (streams/worker/supervisor.py): the plan of the children, the
settings it checks, and the supervisor's handling of signals and of a child that dies, on real
child processes (small scripts standing in for workers)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from streams.errors import CliError
from streams.settings import Settings
from streams.worker.supervisor import EXIT_CRASHED, EXIT_TIMEOUT, SINK_GROUP_SUFFIX, Supervisor, plan

pytestmark = pytest.mark.timeout(120)  # a hang guard: a supervisor that never returns is the failure


def settings(**fields: object) -> Settings:
    return Settings.from_env({"data_dir": "/srv/signals", "partitions": 8, **fields}, env={})


def sinking(fields: dict[str, object]) -> bool:
    return fields.get("sink", True) is not False


def test_children_never_share_a_port_or_a_data_dir() -> None:
    children = plan(settings(processes=3, web_port=6066, metrics_port=9108, otlp_http_port=4318))
    for name in ("web_port", "metrics_port", "otlp_http_port", "data_dir"):
        values = [child.fields[name] for child in children]
        assert len(set(values)) == len(values), name
    assert [c.fields["metrics_port"] for c in children] == [9108, 9109, 9110, 9111]
    assert all(c.fields["processes"] == 1 for c in children)  # a child never supervises again


def test_a_port_that_is_off_stays_off_in_every_child() -> None:
    children = plan(settings(processes=2, web_port=0, metrics_port=0))
    assert all("web_port" not in c.fields and "metrics_port" not in c.fields for c in children)


def test_with_embedded_clickhouse_exactly_one_child_opens_the_path_in_a_group_of_its_own() -> None:
    children = plan(settings(processes=2, app_id="fleet"))  # default DSN: chdb://<data_dir>/clickhouse
    assert {c.fields["clickhouse"] for c in children} == {"chdb:///srv/signals/clickhouse"}  # not per data dir
    sinks = [c for c in children if sinking(c.fields)]
    assert len(sinks) == 1
    [sink] = sinks
    assert sink.fields["ingest"] is False and sink.fields["app_id"] == "fleet" + SINK_GROUP_SUFFIX
    ingest = [c for c in children if c is not sink]
    assert len(ingest) == 2 and all(c.fields.get("ingest", True) and "app_id" not in c.fields for c in ingest)
    assert all(c.fields["alerts"] is False for c in ingest)  # the alerts agent writes to ClickHouse too


def test_with_a_clickhouse_server_every_child_ingests_and_sinks_its_own_partitions() -> None:
    children = plan(settings(processes=2, clickhouse="http://ch:8123"))
    assert len(children) == 2
    assert all(sinking(c.fields) and c.fields.get("ingest", True) and "app_id" not in c.fields for c in children)


def test_without_the_sink_there_is_no_sink_process() -> None:
    assert len(plan(settings(processes=2, sink=False))) == 2


@pytest.mark.parametrize(("fields", "says"), [
    ({"processes": 0}, "SIGNALS_PROCESSES (--processes) >= 1"),
    ({"processes": 9}, "SIGNALS_PROCESSES <= SIGNALS_PARTITIONS (8)"),
    ({"ingest": False, "sink": False, "alerts": False}, "SIGNALS_INGEST=false with the sink or the alerts on"),
])
def test_settings_that_cannot_run_say_what_was_expected_and_the_fix(fields: dict[str, object], says: str) -> None:
    with pytest.raises(CliError) as raised:
        settings(**fields)
    assert says in str(raised.value) and "Fix:" in str(raised.value)


# --- the supervisor, on real processes --------------------------------------------------------

CHILD = """
import pathlib, signal, sys, time
out, mode = pathlib.Path(sys.argv[1]), sys.argv[2]
def stop(signum, frame):
    out.write_text(signal.Signals(signum).name)
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "deaf" else stop)
signal.signal(signal.SIGINT, stop)
out.with_suffix(".ready").touch()
if mode.startswith("exit"):
    sys.exit(int(mode[4:]))
while True:
    time.sleep(0.05)
"""


def commands(tmp_path: Path, *modes: str) -> dict[str, list[str]]:
    return {f"child-{i}": [sys.executable, "-c", CHILD, str(tmp_path / f"child-{i}"), mode]
            for i, mode in enumerate(modes)}


def when_ready(tmp_path: Path, count: int, then: signal.Signals) -> threading.Thread:
    """A thread that sends ``then`` to this process once ``count`` children are up."""
    def wait_and_signal() -> None:
        while len(list(tmp_path.glob("*.ready"))) < count:
            time.sleep(0.02)
        os.kill(os.getpid(), then)
    thread = threading.Thread(target=wait_and_signal, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_is_forwarded_to_every_child_and_the_supervisor_waits_for_them(
        tmp_path: Path, signum: signal.Signals) -> None:
    said: list[str] = []
    when_ready(tmp_path, 2, signum)
    code = Supervisor(commands(tmp_path, "run", "run"), 30, say=said.append).run()
    assert code == 0
    assert [(tmp_path / f"child-{i}").read_text() for i in range(2)] == [signum.name] * 2
    assert any(line.startswith(f"{signum.name}: stopping 2") for line in said)


def test_a_child_that_exits_unasked_stops_the_others_and_its_code_is_the_exit_code(tmp_path: Path) -> None:
    said: list[str] = []
    code = Supervisor(commands(tmp_path, "run", "exit3"), 30, say=said.append).run()
    assert code == 3
    assert (tmp_path / "child-0").read_text() == "SIGTERM"  # the survivor was stopped, not left running
    assert any("child-1" in line and "exited unasked with code 3" in line for line in said)


def test_a_child_that_exits_zero_unasked_is_still_a_failure_of_the_group(tmp_path: Path) -> None:
    assert Supervisor(commands(tmp_path, "run", "exit0"), 30, say=lambda _: None).run() == EXIT_CRASHED


def test_a_child_that_ignores_the_stop_is_killed_past_the_bound(tmp_path: Path) -> None:
    def clock() -> float:  # the bound is over once the other child has stopped (no waiting in the test)
        return 1000.0 if (tmp_path / "child-0").exists() else 0.0
    said: list[str] = []
    when_ready(tmp_path, 2, signal.SIGTERM)
    code = Supervisor(commands(tmp_path, "run", "deaf"), 30, say=said.append, clock=clock).run()
    assert code == EXIT_TIMEOUT
    assert (tmp_path / "child-0").read_text() == "SIGTERM"
    assert any("child-1" in line and "killed" in line for line in said)
