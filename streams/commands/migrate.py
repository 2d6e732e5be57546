"""`signals migrate`: create or upgrade the ClickHouse schema (idempotent)."""

from __future__ import annotations

import argparse

from sinks.client import connect
from sinks.config import database_name, resolve_dsn, ttl_days
from sinks.gateway import worker_url
from sinks.migrate import migrate
from streams.errors import CliError


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dsn", default=None, help="ClickHouse DSN (default: $SIGNALS_CLICKHOUSE or chdb://./data/clickhouse)")
    parser.add_argument("--database", default=None, help="database (default: $SIGNALS_CLICKHOUSE_DATABASE or signals)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("migrate", help="create or upgrade the ClickHouse schema")
    add_connection_args(parser)
    parser.add_argument("--ttl-days", default=None, help="keep rows N days after insertion (default: forever)")
    parser.set_defaults(func=run)


def open_direct(dsn: str | None, database: str | None) -> tuple[object, str]:
    """A direct client for writers; refuses politely when a worker holds the embedded path."""
    try:
        resolved, db = resolve_dsn(dsn), database_name(database)
    except ValueError as error:
        raise CliError("a database name of letters, digits and _", str(error), "pass --database signals") from error
    if worker_url(resolved):
        raise CliError("exclusive access to the embedded ClickHouse path", f"a running worker holding {resolved}",
                       "stop the worker first, or point SIGNALS_CLICKHOUSE at a ClickHouse server")
    return connect(resolved), db


def run(args: argparse.Namespace) -> int:
    try:
        days = ttl_days(args.ttl_days)
    except ValueError as error:
        raise CliError("--ttl-days as a positive integer", repr(args.ttl_days), "e.g. --ttl-days 30") from error
    client, database = open_direct(args.dsn, args.database)
    try:
        for version, name, applied_now in migrate(client, database, ttl_days=days):
            print(f"{version:03d} {name}: {'applied' if applied_now else 'already applied'}")
    finally:
        client.close()  # type: ignore[attr-defined]
    return 0
