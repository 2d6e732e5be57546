"""`signals stats`: counts by quality, signal type and pipeline version, and quality changes between versions;
`--by hour`: signal rates per agent and category as a terminal chart (``sinks.dashboard``, the dashboard's SQL)."""

from __future__ import annotations

import argparse
import json
import sys

from streams.cli.charts import render_rates
from streams.cli.commands.sample import add_selection_args, run_query


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("stats", help="counts by quality, signal type and pipeline version")
    add_selection_args(parser, strategy=False)
    parser.add_argument("--format", choices=("table", "jsonl"), default="table")
    parser.add_argument("--by", choices=("hour",), default=None,
                        help="signal rates per agent and category by hour, as a chart (the dashboard's first panel)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.by:
        return rates(args)
    rows = run_query(args, "stats")
    if args.format == "jsonl":
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return 0
    section = None
    for row in rows:
        if row["section"] != section:
            section = row["section"]
            print(f"\n{section}")
        instances = f"  ({row['instances']} instances)" if row["instances"] else ""
        print(f"  {row['key']:<48} {row['trajectories']:>10}{instances}")
    return 0


def rates(args: argparse.Namespace) -> int:
    rows = run_query(args, "rates")
    if args.format == "jsonl":
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return 0
    render_rates(rows)
    return 0
