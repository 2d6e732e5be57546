"""Worker subprocesses for integration tests: start, find, stop and watch them.

Every worker the tests run is built by the project's one launcher,
``streams.cli.commands.worker.command_line`` (the one `signals demo` uses), with a memory store,
its own data dir and ephemeral web and metrics ports unless a test passes other flags.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.cli.commands.worker import command_line
from tests.support.kafka import REPO

SHUTDOWN_BOUND_S = 10.0  # SIGNALS_SHUTDOWN_TIMEOUT_S of the shutdown tests (default 30)


def worker_argv(kafka: str, names: dict[str, str], data_dir: Path, *extra: str) -> list[str]:
    """The worker's command line for a test: ``names`` (``stream_names``), then ``extra`` flags (they win)."""
    return command_line({"kafka": kafka, "store": "memory://", "data_dir": data_dir, "web_port": 0,
                         "metrics_port": 0, **names}, *extra)


@pytest.fixture
def start_worker(request: pytest.FixtureRequest, stream_names: dict[str, str],
                 tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``start_worker(*extra_flags, kafka=None)`` -> a running worker subprocess (killed at teardown),
    on the shared broker (``kafka_url``) unless ``kafka`` is given; it logs to ``worker-<n>.log``."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*extra: str, kafka: str | None = None) -> subprocess.Popen[bytes]:
        url = kafka or request.getfixturevalue("kafka_url")
        with open(tmp_path / f"worker-{len(procs)}.log", "wb") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(worker_argv(url, stream_names, tmp_path / "data", *extra),
                                    cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def worker_log(tmp_path: Path, index: int = 0) -> str:
    """What the ``index``-th worker of ``start_worker`` has logged so far."""
    return (tmp_path / f"worker-{index}.log").read_text(errors="replace")


def sink_stalls(log: str, what: str = "records") -> int:
    """How many failed ClickHouse attempts the ``what`` sink (records, events, migrate) has logged:
    one line per attempt, each followed by a backoff (streams/worker/sink_agent.py)."""
    return log.count(f"ClickHouse unavailable ({what}), holding consumption")


def wait_url(dsn: str, proc: Any, timeout: float = 90.0) -> str:
    """The web view of the worker that owns ``dsn``, once it advertises one (fails if it exits)."""
    from sinks.gateway import worker_url
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "worker exited"
        if url := worker_url(dsn):
            return str(url)
        time.sleep(0.2)
    raise AssertionError("worker never advertised its web view")


def signal_and_time(proc: subprocess.Popen[bytes], signum: int = signal.SIGTERM,
                    bound_s: float = SHUTDOWN_BOUND_S) -> tuple[int, float]:
    """Send ``signum``; (exit code, seconds until the process was gone). Fails past ``bound_s`` + 5 s."""
    sent = time.monotonic()
    proc.send_signal(signum)
    try:
        code = proc.wait(timeout=bound_s + 5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
        pytest.fail(f"the worker did not exit within {bound_s + 5:.0f}s of the signal")
    return code, time.monotonic() - sent
