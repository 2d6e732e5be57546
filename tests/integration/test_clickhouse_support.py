"""Shared fixtures for the ClickHouse integration tests (no tests here).

chDB allows one data path per process, so all modules share one session path (``tests.conftest.chdb_dsn``)
and each test module gets a fresh database in it.
"""

from __future__ import annotations

import functools
import itertools
import tempfile
from typing import Any

import pytest

from detectors.model import Signal, TrajectoryReport
from sinks.client import connect
from sinks.migrate import migrate
from tests.conftest import chdb_dsn

_databases = itertools.count()


@functools.cache
def shared_client() -> Any:
    return connect(chdb_dsn())


@pytest.fixture(scope="module")
def ch() -> tuple[Any, str]:
    """(client, database) with the schema applied to a fresh database."""
    database = f"test_{next(_databases)}_{tempfile.mktemp(dir='').replace('tmp', '')[:8]}"
    client = shared_client()
    migrate(client, database)
    yield client, database
    client.command(f"DROP DATABASE IF EXISTS {database} SYNC")


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
