"""`signals export`: sampled trajectories with record, events and signals as JSONL (for annotation tools).

``--labelled``: the trajectories reviewers labelled (review page), each with its consensus ``label``
and every reviewer's ``labels``. ``--pairs``: preference pairs from those labels
(``{"prompt", "chosen", "rejected"}`` chat messages, detectors/pairs.py) for DPO trainers.
The filters (--agent, --tenant, --since, --until, --quality, --signal) apply to both.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from typing import TextIO

from detectors.pairs import preference_pairs
from streams.cli.commands.sample import add_selection_args, run_query
from streams.errors import CliError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("export", help="export sampled trajectories as JSONL")
    add_selection_args(parser)
    parser.add_argument("--out", required=True, help="output file, or - for stdout")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--labelled", action="store_true", help="the trajectories reviewers labelled, with their labels")
    which.add_argument("--pairs", action="store_true",
                       help='preference pairs from the labels: {"prompt", "chosen", "rejected"} JSONL')
    parser.set_defaults(func=run)


LABEL_FILTERS = ("agent", "tenant", "since", "until", "quality", "signal")


def run(args: argparse.Namespace) -> int:
    if args.labelled or args.pairs:
        filters = {name: getattr(args, name) for name in LABEL_FILTERS if getattr(args, name)}
        rows = run_query(args, "labelled", filters)
        if args.pairs:
            rows = preference_pairs(rows)
    else:
        rows = run_query(args, "export")
    with _open(args.out) as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    if args.out != "-":
        print(f"exported {len(rows)} {'pairs' if args.pairs else 'trajectories'} to {args.out}", file=sys.stderr)
    return 0


def _open(path: str) -> TextIO:
    if path == "-":
        return nullcontext(sys.stdout)  # type: ignore[return-value]
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as error:
        raise CliError("a writable --out path or -", repr(path), "choose another path") from error
