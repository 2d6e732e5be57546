"""`signals export`: sampled trajectories with record, events and signals as JSONL (for annotation tools)."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from typing import TextIO

from streams.cli.commands.sample import add_selection_args, run_query
from streams.errors import CliError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("export", help="export sampled trajectories as JSONL")
    add_selection_args(parser)
    parser.add_argument("--out", required=True, help="output file, or - for stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rows = run_query(args, "export")
    with _open(args.out) as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    if args.out != "-":
        print(f"exported {len(rows)} trajectories to {args.out}", file=sys.stderr)
    return 0


def _open(path: str) -> TextIO:
    if path == "-":
        return nullcontext(sys.stdout)  # type: ignore[return-value]
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as error:
        raise CliError("a writable --out path or -", repr(path), "choose another path") from error
