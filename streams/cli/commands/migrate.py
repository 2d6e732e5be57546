"""`signals migrate`: create or upgrade the ClickHouse schema (idempotent)."""

from __future__ import annotations

import argparse
from typing import Any

from sinks.client import connect
from sinks.gateway import worker_url
from sinks.migrate import migrate, migration_files, schema_statements
from streams.cli.commands.flags import add_connection_args, add_settings_flags, settings_from_args
from streams.errors import CliError
from streams.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("migrate", help="create or upgrade the ClickHouse schema")
    add_connection_args(parser)
    add_settings_flags(parser, ("clickhouse_ttl_days", "clickhouse_cluster"))
    parser.add_argument("--print", dest="print_only", action="store_true",
                        help="print the DDL that would be applied (with --cluster: its cluster form) and change nothing")
    parser.set_defaults(func=run)


def open_direct(settings: Settings) -> tuple[Any, str]:
    """A direct client for writers; refuses politely when a worker holds the embedded path."""
    dsn = settings.clickhouse_dsn
    if worker_url(dsn):
        raise CliError("exclusive access to the embedded ClickHouse path", f"a running worker holding {dsn}",
                       "stop the worker first, or point SIGNALS_CLICKHOUSE at a ClickHouse server")
    return connect(dsn), settings.clickhouse_database


def print_schema(settings: Settings) -> int:
    for version, name, path in migration_files():
        print(f"-- {version:03d} {name}")
        for statement in schema_statements(path, settings.clickhouse_database, settings.clickhouse_cluster):
            print(f"{statement};\n")
    return 0


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if args.print_only:
        return print_schema(settings)
    client, database = open_direct(settings)
    try:
        for version, name, applied_now in migrate(client, database, ttl_days=settings.clickhouse_ttl_days or None,
                                                  cluster=settings.clickhouse_cluster):
            print(f"{version:03d} {name}: {'applied' if applied_now else 'already applied'}")
    finally:
        client.close()
    return 0
