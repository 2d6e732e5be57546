"""How a worker stops: bounded, on SIGTERM/SIGINT, with exit codes a supervisor can rely on.

On the first SIGTERM or SIGINT the worker stops the way Faust stops (stop fetching, empty the
stream queues, wait for the messages in hand, commit, stop the agents, leave the consumer group,
flush the producer), with two bounds that Faust does not have:

- Faust's wait for every delivered message to be acked (``Consumer.wait_empty``) gives up at
  ``wait_deadline``, half of ``SIGNALS_SHUTDOWN_TIMEOUT_S``: what is not done by then is
  left uncommitted (the next owner of the partition reads it again; sinks are idempotent);
- a watchdog thread ends the process ``SIGNALS_SHUTDOWN_TIMEOUT_S`` after the signal whatever the
  event loop is doing (a broker that does not answer the final commit or the LeaveGroup), with
  ``EXIT_TIMEOUT``, after one log line that says what was still running (``still_running``: the
  innermost frames of every thread and every pending asyncio task), so that a stop that hangs is
  diagnosed from the log of the run it hung in.

A second SIGINT exits at once (``EXIT_INTERRUPTED``). Either way one log line says how the worker
stopped, what it committed and what it left. Ports are checked before Faust starts, so a port
taken by another process is one clear message (``PortInUse``), not a traceback.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import logging
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from streams.worker import faust_fixes

log = logging.getLogger("signals.worker")

# Exit codes of `signals worker` (README, RELIABILITY.md).
EXIT_OK = 0  # stopped on a signal (or at the end of its work): committed what was done, left the group
EXIT_CRASHED = 1  # an agent or Faust itself failed; see the log
EXIT_USAGE = 2  # bad settings or flags, or no reachable Kafka broker at startup (the CLI's code)
EXIT_PORT_IN_USE = 3  # the web or metrics port is taken
EXIT_INCOMPATIBLE = 4  # faust-streaming / mode-streaming are not the versions streams/worker/faust_fixes.py patches
EXIT_TIMEOUT = 5  # the stop did not finish within SIGNALS_SHUTDOWN_TIMEOUT_S: ended by the watchdog
EXIT_INTERRUPTED = 130  # a second SIGINT during the stop: ended at once (128 + SIGINT, like a shell)


class PortInUse(Exception):
    def __init__(self, port: int, variable: str) -> None:
        super().__init__(f"port {port} is in use, probably by another worker; set {variable} to a free port "
                         "(0 disables it)")
        self.port, self.variable = port, variable


def check_port(port: int, variable: str) -> None:
    """Raise ``PortInUse`` if nothing could listen on ``port`` (0 = disabled)."""
    if port <= 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no conflict
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            raise PortInUse(port, variable) from None


class Shutdown:
    """The state of one worker's stop: when it began, its deadlines, the one-line report."""

    def __init__(self, app: Any, timeout_s: float, *, exit: Callable[[int], Any] = os._exit,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app, self.timeout_s, self._exit, self._clock = app, timeout_s, exit, clock
        self.reason = ""
        self.started_at: float | None = None
        self.highwaters: dict[Any, int] = {}
        self.reported = False
        self._lock = threading.Lock()
        self._watchdog: threading.Timer | None = None
        self.closers: list[Callable[[], Any]] = []  # release ports etc. before any exit
        self.loop: Any = None  # the event loop the stop runs on (for the watchdog's report)

    @property
    def started(self) -> bool:
        return self.started_at is not None

    def begin(self, reason: str) -> bool:
        """The first signal: start the clock and the watchdog; False if a stop is already under way."""
        with self._lock:
            if self.started_at is not None:
                return False
            self.started_at, self.reason = self._clock(), reason
        with contextlib.suppress(RuntimeError):  # called outside a loop (tests)
            self.loop = asyncio.get_running_loop()
        self.highwaters = faust_fixes.highwaters(getattr(self.app, "_consumer", None))
        # Faust's wait for in-flight acks ends here (seconds on the event loop clock, see faust_fixes)
        faust_fixes.set_wait_deadline(self.app, self.timeout_s / 2)
        self._watchdog = threading.Timer(max(0.1, self.timeout_s - 1.0), self.timed_out)
        self._watchdog.daemon = True
        self._watchdog.start()
        log.warning("%s: stopping (at most %.0fs): no new messages; finishing or abandoning the batch in hand",
                    reason, self.timeout_s)
        return True

    def elapsed(self) -> float:
        return 0.0 if self.started_at is None else self._clock() - self.started_at

    def timed_out(self) -> None:
        log.warning("the stop is past its bound; still running:\n%s", still_running(self.loop))
        self.force(f"the stop did not finish within SIGNALS_SHUTDOWN_TIMEOUT_S={self.timeout_s:g}s", EXIT_TIMEOUT)

    def force(self, why: str, code: int) -> None:
        """End the process now (from any thread), after the report and closing the ports."""
        self.report(ended=f"ended by force ({why})")
        logging.shutdown()  # the process exit closes every socket: the ports are free at once
        sys.stdout.flush()
        sys.stderr.flush()
        self._exit(code)

    def release(self) -> None:
        for close in self.closers:
            with contextlib.suppress(Exception):  # best effort on the way out
                close()
        self.closers.clear()

    def finished(self) -> None:
        """The stop completed: cancel the watchdog, report."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        self.report(ended="stopped cleanly")

    def report(self, *, ended: str) -> None:
        with self._lock:
            if self.reported:
                return
            self.reported = True
        consumer = getattr(self.app, "_consumer", None)
        committed = faust_fixes.committed_offsets(consumer)
        left = faust_fixes.unacked_count(consumer)
        log.warning("%s %s after %.1fs: %s; %d delivered messages were not done (left uncommitted: "
                    "the next owner of their partitions reads them again)",
                    self.reason or "worker", ended, self.elapsed(),
                    describe_offsets(committed, self.highwaters), left)


def describe_offsets(committed: dict[Any, int], highwaters: dict[Any, int]) -> str:
    """'committed events 4200/4250 (50 left), trajectories 510/510' per topic (summed over partitions)."""
    topics: dict[str, list[int]] = {}
    for tp in set(highwaters) | {tp for tp in committed if tp.topic in {t.topic for t in highwaters}}:
        done, end = committed.get(tp), highwaters.get(tp)
        total = topics.setdefault(tp.topic, [0, 0])
        total[0] += max(0, done or 0)
        total[1] += max(0, end if end is not None else (done or 0))
    if not topics:
        return "nothing committed (no partitions assigned)"
    parts = []
    for topic, (done, end) in sorted(topics.items()):
        parts.append(f"{topic} {done}/{end}" + (f" ({end - done} left)" if end > done else ""))
    return "committed " + ", ".join(parts)


def still_running(loop: Any, frames: int = 6) -> str:
    """The innermost ``frames`` frames of every other thread and of every pending task of ``loop``
    (read from the watchdog thread: a best-effort snapshot)."""
    lines = []
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        if ident == threading.get_ident():
            continue
        stack = traceback.format_stack(frame)[-frames:]
        lines.append(f"thread {names.get(ident, ident)}:\n" + "".join(stack).rstrip())
    tasks: set[asyncio.Task[Any]] = set()
    if loop is not None:
        with contextlib.suppress(RuntimeError):
            tasks = asyncio.all_tasks(loop)
    for task in sorted(tasks, key=lambda task: task.get_name()):
        lines.append(f"task {task.get_name()}: {awaiting(task.get_coro())}")
    for task in other_loops_tasks(loop):
        lines.append(f"task {task.get_name()} (loop of another thread): {awaiting(task.get_coro())}")
    return "\n".join(lines)


def other_loops_tasks(loop: Any) -> list[asyncio.Task[Any]]:
    """Pending tasks of the event loops other than ``loop`` (a Faust service thread's: the consumer's),
    found among the live objects: no registry lists the loops of other threads."""
    found = [task for task in gc.get_objects() if isinstance(task, asyncio.Task)]
    return sorted((task for task in found if not task.done() and task.get_loop() is not loop),
                  key=lambda task: task.get_name())


def awaiting(coro: Any) -> str:
    """'outer -> ... -> innermost (file:line)': the chain of coroutines ``coro`` is suspended in."""
    chain, frame = [], None
    while coro is not None and (frame := getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)):
        chain.append(getattr(coro, "__qualname__", type(coro).__name__))
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        last = frame
    if not chain:
        return repr(coro)
    return " -> ".join(chain) + f" ({last.f_code.co_filename}:{last.f_lineno})"


def exit_now(code: int) -> None:
    """End the process with ``code`` once the worker has stopped: exit handlers and log flushes run,
    the embedded ClickHouse engine's native teardown (~4 s, nothing left to write) does not."""
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def crashed(*services: Any) -> bool:
    """Whether Faust recorded a crash on any of ``services`` (the app, the worker)."""
    return any(getattr(service, "_crash_reason", None) is not None for service in services)
