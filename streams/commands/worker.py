"""`signals worker`: run the streaming triage worker (Faust) against Kafka."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from streams.settings import Settings

# flag -> Settings field (flags override SIGNALS_* environment variables)
FLAGS: dict[str, tuple[str, type]] = {
    "--kafka": ("kafka", str), "--store": ("store", str), "--partitions": ("partitions", int),
    "--pipeline-version": ("pipeline_version", str), "--app-id": ("app_id", str),
    "--data-dir": ("data_dir", str), "--web-port": ("web_port", int),
    "--metrics-port": ("metrics_port", int), "--topic-events": ("topic_events", str),
    "--topic-signals": ("topic_signals", str), "--topic-trajectories": ("topic_trajectories", str),
    "--topic-dlq": ("topic_dlq", str), "--inactivity-gap": ("inactivity_gap_s", float),
    "--idle-close": ("idle_close_s", float), "--max-event-bytes": ("max_event_bytes", int),
    "--batch-max": ("batch_max", int), "--session-timeout": ("session_timeout_s", float),
    "--clickhouse": ("clickhouse", str), "--sink": ("sink", str),
    "--sink-batch-max": ("sink_batch_max", int), "--sink-within": ("sink_batch_within_s", float),
}


def add_settings_flags(parser: argparse.ArgumentParser, names: tuple[str, ...] = tuple(FLAGS)) -> None:
    for flag in names:
        field, kind = FLAGS[flag]
        parser.add_argument(flag, dest=field, type=kind, default=None, help=f"overrides SIGNALS_{field.upper()}")


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings.from_env({field: getattr(args, field, None) for field, _ in FLAGS.values()})


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
