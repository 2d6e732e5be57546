"""`signals schema [events|batch|report]`: print a published JSON Schema.

``events`` is one event (a Kafka message or a JSONL line), ``batch`` a batched envelope (an array
of events of one trajectory), ``report`` the trajectory record `signals analyze` prints fields of.
"""

from __future__ import annotations

import argparse
import sys

from detectors.schema import SCHEMA_TYPES, generate


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("schema", help="print the JSON Schema for events or reports",
                                   description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    parser.add_argument("name", nargs="?", default="events", choices=tuple(SCHEMA_TYPES),
                        help="which schema (default: events)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(generate(args.name).decode())
    return 0
