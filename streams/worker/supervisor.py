"""`signals worker --processes N`: N worker processes of one consumer group on this host, and their supervisor.

The plan (``plan``): child i is `signals worker` with ``--processes=1``, its own data dir
``<data_dir>/process-<i>`` (the Faust table store and the Kafka cluster id beside it) and each port
that is on (web, metrics, OTLP/HTTP) moved to port + i. The ClickHouse DSN is resolved once (its
default lies under the data dir) and every child gets that one DSN.

The embedded engine (``chdb://PATH``) can be opened by one process at a time, so with it the N
children only ingest (``--sink=false --alerts=false``) and one more child, the last (index N, its
ports + N), owns PATH: ``--ingest=false`` (the sink and alerts agents, the query and review web
routes, the gateway marker of ``sinks.gateway``) in its own consumer group ``<app_id>-sink``
(its raw events in ``<app_id>-sink-raw-events``: streams/worker/events_sink.py). It stays out of
the ingest group: it runs other agents than the ingest children, and a Faust group of members
that run different agents is neither what Faust's assignor is built for nor tested here (before
the raw events left Faust, such a group split the events partitions between the sink process and
the ingest processes).
With an http(s) ClickHouse every child sinks its own partitions and there is no sink child.

Stop (``Supervisor``): SIGTERM and SIGINT are forwarded to every child (a second SIGINT too: the
children then end at once); the supervisor waits for all of them. Each child has its own bounded
stop (``SIGNALS_SHUTDOWN_TIMEOUT_S``, streams/worker/shutdown.py); a child still there
``KILL_GRACE_S`` after that bound is killed and the supervisor exits ``EXIT_TIMEOUT``. The children
run in their own process groups (a terminal's Ctrl-C reaches the supervisor only, which forwards
it once) and get SIGTERM if the supervisor dies (Linux).

A child that exits unasked: the supervisor stops the others the same way and exits with that
child's code (``EXIT_CRASHED`` if it was 0). It does not restart it: restarting is the job of the
one service manager above (systemd ``Restart=on-failure``, a Kubernetes pod), which then sees the
failure and restarts the whole group; a restart loop in here would hide a crash loop from it.
Otherwise the exit code is 0 when every child exited 0, else the first child's non-zero code.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from sinks.config import chdb_path
from streams.settings import Settings

EXIT_CRASHED, EXIT_TIMEOUT = 1, 5  # as streams/worker/shutdown.py (not imported: it loads Faust)
KILL_GRACE_S = 5.0  # past a child's own shutdown bound, before it is killed
POLL_S = 0.1
PORT_FIELDS = ("web_port", "metrics_port", "otlp_http_port")
SINK_GROUP_SUFFIX = "-sink"
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Child:
    """One worker process of the plan: its name (in the supervisor's messages) and the Settings
    fields it gets on top of the supervisor's own flags."""

    name: str
    fields: dict[str, object] = field(default_factory=dict)


def plan(settings: Settings) -> list[Child]:
    """The children of ``settings.processes`` (see the module docstring)."""
    dsn = settings.clickhouse_dsn
    embedded = settings.sink and chdb_path(dsn) is not None
    common: dict[str, object] = {"processes": 1, "clickhouse": dsn}
    if embedded:
        common |= {"sink": False, "alerts": False}
    children = [Child(f"process-{i}", {**common, **_own(settings, i, f"process-{i}")})
                for i in range(settings.processes)]
    if embedded:
        index = settings.processes
        children.append(Child("sink", {"processes": 1, "clickhouse": dsn, "ingest": False,
                                       "app_id": settings.app_id + SINK_GROUP_SUFFIX,
                                       **_own(settings, index, "process-sink")}))
    return children


def _own(settings: Settings, index: int, directory: str) -> dict[str, object]:
    """What no two children may share: the data dir and the ports (0, off, stays off)."""
    ports = {name: port + index for name in PORT_FIELDS if (port := getattr(settings, name)) > 0}
    return {"data_dir": str(Path(settings.data_dir) / directory), **ports}


class Supervisor:
    """Runs the children's command lines until they have all exited; ``run`` returns the exit code."""

    def __init__(self, commands: Mapping[str, Sequence[str]], shutdown_timeout_s: float, *,
                 spawn: Callable[[Sequence[str]], Any] | None = None, say: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.commands, self.bound_s = dict(commands), shutdown_timeout_s + KILL_GRACE_S
        self.spawn = spawn or start_child
        self.say = say or (lambda line: print(f"signals worker: {line}", file=sys.stderr, flush=True))
        self.clock = clock
        self.children: dict[str, Any] = {}
        self.stop_at: float | None = None  # when the stop began
        self.failed: tuple[str, int] | None = None  # the first child that exited unasked, its code
        self.timed_out = False

    def run(self) -> int:
        previous = {s: signal.signal(s, self.on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            for name, argv in self.commands.items():
                self.children[name] = self.spawn(argv)
            self.say(f"supervising {len(self.children)} worker processes: "
                     + ", ".join(f"{n} (pid {c.pid})" for n, c in self.children.items()))
            while self.step():
                time.sleep(POLL_S)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return self.exit_code()

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop(signal.Signals(signum))

    def stop(self, signum: signal.Signals) -> None:
        """Forward ``signum`` to every child still running; the first call starts the stop's clock."""
        if self.stop_at is None:
            self.stop_at = self.clock()
            self.say(f"{signum.name}: stopping {len(self.running())} worker processes")
        for child in self.running().values():
            child.send_signal(signum)

    def step(self) -> bool:
        """One look at the children; False once they have all exited."""
        running = self.running()
        if not running:
            return False
        if self.stop_at is None:
            for name, child in self.children.items():
                if name not in running:
                    self.failed = (name, child.returncode)
                    self.say(f"{name} (pid {child.pid}) exited unasked with code {child.returncode}: "
                             "stopping the others (restarts are the service manager's)")
                    self.stop(signal.SIGTERM)
                    break
        elif self.clock() - self.stop_at > self.bound_s:
            self.timed_out = True
            for name, child in running.items():
                self.say(f"{name} (pid {child.pid}) still running {self.bound_s:.0f}s after the stop: killed")
                child.kill()
                child.wait()
            return False
        return True

    def running(self) -> dict[str, Any]:
        return {name: child for name, child in self.children.items() if child.poll() is None}

    def exit_code(self) -> int:
        if self.timed_out:
            return EXIT_TIMEOUT
        if self.failed is not None:
            return self.failed[1] if self.failed[1] > 0 else EXIT_CRASHED
        codes = [child.returncode for child in self.children.values()]
        return next((code if code > 0 else EXIT_CRASHED for code in codes if code != 0), 0)


def start_child(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    """A child in its own process group (Ctrl-C reaches the supervisor only), ended if the supervisor dies."""
    return subprocess.Popen(list(argv), process_group=0, preexec_fn=_die_with_parent)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux; elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
