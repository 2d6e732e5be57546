"""The `signals` command line: argument parsing, one module per command, and rendering for people.

Owns ``main`` (the console entry point, ``python -m streams.cli``), ``commands/`` (one module per
subcommand with ``register(subparsers)``; ``commands/flags.py`` makes the flags from ``Settings``),
``output`` (the report table and JSONL rows) and ``demo_view`` (what `signals demo` prints).
Never does: session logic (commands call ``streams.pipeline``, ``streams.replay``, the worker), SQL.
"""

from __future__ import annotations

from streams.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
