"""`signals worker`: run the streaming triage worker (Faust) against Kafka."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from streams.commands.flags import add_settings_flags, settings_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_flags(parser)
    parser.add_argument("--loglevel", default="warning", choices=["debug", "info", "warning", "error"])


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("worker", help="run the streaming worker (Kafka in, signals and records out)")
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    print(json.dumps({"signals worker": settings.masked()}, indent=1), flush=True)
    _use_uvloop()
    from faust.worker import Worker  # Faust is imported only when a worker really starts

    from streams.app import build_app
    from streams.topics import client_options, ensure_topics
    created = asyncio.run(ensure_topics(settings, client_options(settings)))
    if created:
        print(f"created topics: {', '.join(created)}", flush=True)
    (Path(settings.data_dir) / "faust").mkdir(parents=True, exist_ok=True)
    from streams.sink_agent import register_sink
    from streams.web import register_web
    app = build_app(settings, extensions=[register_sink, register_web])
    app.ingest.metrics.serve(settings.metrics_port)
    Worker(app, loglevel=args.loglevel, quiet=True).execute_from_commandline()
    return 0


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="signals worker")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
