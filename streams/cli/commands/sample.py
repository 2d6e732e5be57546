"""`signals sample`: pick trajectories worth reviewing (see docs/sampling.md for the strategies)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sinks.gateway import NotMigrated, query
from sinks.selection import STRATEGIES
from sinks.service import QueryError
from streams.cli.commands.flags import add_connection_args, settings_from_args
from streams.errors import CliError


def add_selection_args(parser: argparse.ArgumentParser, *, strategy: bool = True) -> None:
    if strategy:
        parser.add_argument("--strategy", choices=STRATEGIES, default="signals")
        parser.add_argument("--n", type=int, default=50, help="how many trajectories (default 50)")
        parser.add_argument("--seed", type=int, default=0, help="tie-break / random seed (default 0)")
    parser.add_argument("--agent", default="")
    parser.add_argument("--tenant", default="")
    parser.add_argument("--since", default="", help="ISO time, first event at or after")
    parser.add_argument("--until", default="", help="ISO time, first event before")
    parser.add_argument("--quality", default="", help="excellent|good|neutral|poor|severe")
    parser.add_argument("--signal", default="", help="signal type or category, e.g. execution.failure")
    parser.add_argument("--pipeline-version", default="", help="read records of this pipeline version")
    add_connection_args(parser)


SELECTION_FIELDS = ("strategy", "n", "seed", "agent", "tenant", "since", "until", "quality", "signal",
                    "pipeline_version")


def selection_params(args: argparse.Namespace) -> dict[str, Any]:
    values = {name: getattr(args, name, None) for name in SELECTION_FIELDS}
    return {name: value for name, value in values.items() if value not in (None, "")}


def run_query(args: argparse.Namespace, op: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The op on the ClickHouse of the settings (through the worker holding it, if one does); params:
    the selection flags unless given."""
    settings = settings_from_args(args)
    given = selection_params(args) if params is None else params
    try:
        return query(settings.clickhouse_dsn, op, {**given, "database": settings.clickhouse_database},
                     settings.web_token)
    except QueryError as error:
        raise CliError("valid selection flags", str(error), "see `signals sample --help`") from error
    except NotMigrated as error:
        raise CliError("a ClickHouse database holding trajectories", str(error),
                       "run `signals load FILE` (or `signals migrate` and a worker) first") from error
    except PermissionError as error:
        raise CliError("the web token of the server holding the database", str(error),
                       "export SIGNALS_WEB_TOKEN (or SIGNALS_WEB_TOKEN_FILE) as the worker has it") from error
    except ConnectionError as error:
        raise CliError("a reachable ClickHouse or worker", str(error), "check SIGNALS_CLICKHOUSE and the worker") from error


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("sample", help="sample trajectories for review")
    add_selection_args(parser)
    parser.add_argument("--format", choices=("table", "jsonl"), default="table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rows = run_query(args, "sample")
    if args.format == "jsonl":
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        print_table(rows)
    return 0


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "version", "triage", "quality", "signal types", "reason")
    for row in rows:
        table.add_row(row["id"], row["pipeline_version"], f"{row['triage_score']:.2f}", row["quality"],
                      ", ".join(row["signal_types"]), row["reason"])
    Console().print(table)
