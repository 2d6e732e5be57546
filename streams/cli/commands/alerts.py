"""`signals alerts`: the spike alerts stored in ClickHouse, newest first (see docs/alerts.md)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from streams.cli.commands.sample import add_selection_args, run_query


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("alerts", help="spike alerts: signal counts per agent and category far above their baseline")
    add_selection_args(parser, strategy=False)  # --agent, --signal (a category), --since/--until (window start)
    parser.add_argument("--n", type=int, default=50, help="how many alerts, newest first (default 50)")
    parser.add_argument("--format", choices=("table", "jsonl"), default="table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rows = run_query(args, "alerts")
    if args.format == "jsonl":
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
    else:
        print_table(rows)
    return 0


def _time(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("window start (UTC)", "minutes", "agent", "category", "count", "baseline", "threshold",
                  title=None if rows else "no alerts")
    for row in rows:
        table.add_row(_time(row["window_start"]), f"{(row['window_end'] - row['window_start']) / 60:g}",
                      row["agent_id"], row["category"], str(row["count"]), f"{row['baseline']:.1f}",
                      f"{row['threshold']:.1f}")
    Console().print(table)
