"""Lazy, replaceable ClickHouse clients (the only module that imports clickhouse_connect)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError

from sinks.config import resolve_dsn

ClientFactory = Callable[[], Any]
__all__ = ["ClientFactory", "ClientHolder", "DatabaseError", "connect", "factory"]


def connect(dsn: str) -> Any:
    """A clickhouse-connect client for the DSN (``chdb://`` embedded or ``http(s)://`` server).
    Queries name the database explicitly, so one client serves any database."""
    return clickhouse_connect.get_client(dsn=resolve_dsn(dsn))


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
