"""The embedded ClickHouse (chDB) of the test process, and the ``ch`` fixture.

chDB allows ONE data path per process: every in-process use of the embedded ClickHouse in the test
session (sink tests, sampling tests, ``signals demo --in-process``) goes through ``chdb_dsn()``, one
temporary path created on first use and removed at exit. Tests isolate themselves by database.
Worker subprocesses own their own paths (under ``tmp_path``) and are queried through their web view.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from detectors.model import Signal, TrajectoryReport

_databases = itertools.count()


@functools.cache
def chdb_dsn() -> str:
    path = tempfile.mkdtemp(prefix="signals-chdb-test-")
    atexit.register(shutil.rmtree, path, True)
    return f"chdb://{path}"


@pytest.fixture(scope="session")
def chdb_path() -> str:
    """The process's one embedded ClickHouse path (see ``chdb_dsn``)."""
    return chdb_dsn().removeprefix("chdb://")


@functools.cache
def shared_client() -> Any:
    from sinks.client import connect
    return connect(chdb_dsn())


@pytest.fixture(scope="module")
def ch() -> Iterator[tuple[Any, str]]:
    """(client, database) with the schema applied to a fresh database (one per test module)."""
    from sinks.migrate import migrate
    database = f"test_{next(_databases)}_{uuid.uuid4().hex[:8]}"
    client = shared_client()
    migrate(client, database)
    yield client, database
    client.command(f"DROP DATABASE IF EXISTS {database}")  # not SYNC: chDB 26.3 can hang in it (lowest tier)


def make_report(tid: str, types: dict[str, int] | None = None, *, triage: float = 0.5, version: str = "1.0.0",
                events: int = 10, final: bool = True, quality: str = "neutral", agent: str = "agent-a",
                tenant: str = "acme", first_ts: float = 1_735_689_600.0, tool_errors: int = 0) -> TrajectoryReport:
    counts = dict(types or {})
    signals = [Signal(type=t, index=i, snippet=f"{t} at {i}") for t, n in sorted(counts.items()) for i in range(n)]
    return TrajectoryReport(id=tid, quality=quality, quality_score=50.0, triage_score=triage, signals=signals,
                            counts=counts, pipeline_version=version, final=final, agent_id=agent, tenant_id=tenant,
                            events=events, tool_errors=tool_errors, first_ts=first_ts, last_ts=first_ts + 60)


def count(client: Any, sql: str, **params: Any) -> int:
    return int(client.query(sql, parameters=params).result_rows[0][0])
