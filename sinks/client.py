"""Lazy, replaceable ClickHouse clients (the only module that imports clickhouse_connect)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from importlib import metadata
from typing import Any, Final

import clickhouse_connect
from clickhouse_connect.driver._chdbclient import ChdbClient
from clickhouse_connect.driver.exceptions import DatabaseError

from sinks.config import resolve_dsn

ClientFactory = Callable[[], Any]
__all__ = ["INSERT_SETTINGS", "SERVER_FLOOR", "SERVER_INSERT_SETTINGS", "ClientFactory", "ClientHolder", "DatabaseError",
           "UnsupportedVersion", "check_server", "connect", "factory", "insert_settings"]

# The oldest ClickHouse server we support: the compose image's version, whose engine (chdb-core 26.3)
# tools/lowest_versions.sh tests; the main suite tests chDB's newest. Below it, `signals migrate` refuses.
SERVER_FLOOR: Final = (26, 3)


# Every insert of the writer: no ReplacingMergeTree collapse inside the inserted block (reads collapse
# versions anyway: FINAL, or the latest-version reads of docs/sampling.md); measured 1.3x faster on
# the trajectories table (bench/bench_clickhouse.py).
INSERT_SETTINGS: Final = {"optimize_on_insert": 0}
# ... and on a server, asynchronous inserts: the server buffers many workers' small batches into
# fewer parts. wait_for_async_insert: the insert returns once the rows are written (or fails), so a
# batch is acknowledged, retried and kept exactly as with a plain insert; async_insert_deduplicate:
# the batch's insert_deduplication_token still deduplicates a retry.
SERVER_INSERT_SETTINGS: Final = {**INSERT_SETTINGS, "async_insert": 1, "wait_for_async_insert": 1,
                                 "async_insert_deduplicate": 1}


def insert_settings(client: Any) -> dict[str, Any]:
    """The settings of the writer's inserts on this client (the embedded engine takes no async inserts)."""
    return dict(INSERT_SETTINGS if isinstance(client, ChdbClient) else SERVER_INSERT_SETTINGS)


class UnsupportedVersion(Exception):
    """An engine, client or server older than we support; says what was found and what to do."""

    def __init__(self, expected: str, got: str, fix: str) -> None:
        super().__init__(f"expected {expected}, got {got}. Fix: {fix}")
        self.expected, self.got, self.fix = expected, got, fix


def version_tuple(text: str) -> tuple[int, ...]:
    """The leading numeric release of a version string: "26.9.2.1" -> (26, 9, 2, 1), "1.6.0rc1" -> (1, 6, 0)."""
    match = re.match(r"\d+(?:\.\d+)*", text.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def declared_floor(package: str) -> str | None:
    """The ``>=`` floor pyproject.toml declares for a dependency (read from the installed metadata)."""
    try:
        requirements = metadata.requires("agent-signals") or []
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return None
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement)
        if name and name.group(0).lower() == package and ";" not in requirement:
            floor = re.search(r">=\s*([0-9][^,;\s]*)", requirement)
            return floor.group(1) if floor else None
    return None


def check_package(package: str) -> None:
    """Raise UnsupportedVersion when the installed ``package`` is below the floor we declare."""
    floor = declared_floor(package)
    try:
        found = metadata.version(package)
    except metadata.PackageNotFoundError:
        found = "not installed"
    if floor and version_tuple(found) < version_tuple(floor):
        raise UnsupportedVersion(f"{package} >= {floor}", f"{package} {found}",
                                 f"pip install '{package}>={floor}' (or reinstall agent-signals to get its dependencies)")


def check_server(client: Any) -> str:
    """The server's ``version()``; raise UnsupportedVersion below SERVER_FLOOR."""
    found = str(client.command("SELECT version()"))
    if version_tuple(found) < SERVER_FLOOR:
        floor = ".".join(map(str, SERVER_FLOOR))
        raise UnsupportedVersion(f"a ClickHouse server >= {floor}", f"ClickHouse {found}",
                                 f"upgrade the server to {floor} or newer (infra/docker-compose.yml pins the "
                                 "version we test), or use the embedded chdb:// default")
    return found


def connect(dsn: str) -> Any:
    """A clickhouse-connect client for the DSN (``chdb://`` embedded or ``http(s)://`` server).
    Queries name the database explicitly, so one client serves any database. The client library (and
    for ``chdb://`` the engine) must be at least the floors pyproject.toml declares."""
    resolved = resolve_dsn(dsn)
    check_package("clickhouse-connect")
    if resolved.startswith("chdb://"):
        check_package("chdb")
    return clickhouse_connect.get_client(dsn=resolved)


def factory(dsn: str) -> ClientFactory:
    resolved = resolve_dsn(dsn)
    return lambda: connect(resolved)


class ClientHolder:
    """Creates the client on first use; ``reset()`` drops a broken one so the next use reconnects."""

    def __init__(self, make: ClientFactory) -> None:
        self._make = make
        self._client: Any = None

    def get(self) -> Any:
        if self._client is None:
            self._client = self._make()
        return self._client

    def reset(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close; drop it anyway
                client.close()

    close = reset
