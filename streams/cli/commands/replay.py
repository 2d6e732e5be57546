"""`signals replay`: re-run a range of the input topic through the engine at a pipeline version.

See docs/replay.md. Reads with manual partition assignment (no consumer group), writes records to
ClickHouse (default) or to the output topics, checkpoints per partition, resumes on a rerun.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import Any

from sinks.config import resolve_dsn
from sinks.gateway import WORKER_FILE, worker_url
from sinks.writer import DEFAULT_BACKOFF, Backoff, Writer
from streams.cli.commands.flags import add_connection_args, add_settings_flags, settings_from_args
from streams.cli.commands.migrate import open_direct
from streams.errors import CliError
from streams.replay.checkpoint import checkpoint_key, default_path
from streams.replay.kafka import Request, run_replay
from streams.replay.output import ClickHouseOutput, DlqOutput, Tee, TopicOutput
from streams.replay.range import parse_bound
from streams.replay.report import dry_run, print_dry_run, print_outcome, rich_progress
from streams.settings import Settings

SETTINGS_FLAGS = ("kafka", "data_dir", "topic_events", "topic_signals", "topic_trajectories", "topic_dlq",
                  "inactivity_gap_s", "max_event_bytes", "redact_content", "topic_alerts", "alert_window_s",
                  "alert_grace_s", "alert_baseline_windows", "alert_ratio", "alert_min_count", "alert_floor",
                  "alert_cooldown_s", "alert_max_keys")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")


def parse_duration(text: str) -> float:
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a duration like 90s, 30m, 1h, 2d or 0, got {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def parse_partitions(text: str) -> list[int]:
    try:
        return sorted({int(p) for p in text.split(",") if p.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected partition numbers like 0,1,3, got {text!r}") from None


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("replay", help="backfill a range of the input topic with a pipeline version")
    parser.add_argument("--from", dest="start", required=True, help="beginning | offset | ISO time")
    parser.add_argument("--to", dest="stop", default="end", help="end (offsets now) | offset | ISO time")
    parser.add_argument("--pipeline-version", dest="version", required=True, help="version stamped on records")
    parser.add_argument("--partitions", type=parse_partitions, default=None, help="e.g. 0,1 (default: all)")
    parser.add_argument("--output", choices=("clickhouse", "topic"), default="clickhouse")
    parser.add_argument("--dry-run", action="store_true", help="report ranges and counts; write nothing")
    parser.add_argument("--checkpoint", default=None, help="checkpoint file (default under the data dir)")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    parser.add_argument("--lookback", type=parse_duration, default=3600.0,
                        help="read this much before --from to complete straddling sessions (default 1h)")
    parser.add_argument("--write-partial", action="store_true",
                        help="write sessions still incomplete after the lookback (final=false, 'partial' reason)")
    parser.add_argument("--dlq", action="store_true", help="also send rejected messages to the DLQ topic")
    parser.add_argument("--alerts", action="store_true",
                        help="also run the spike detector (docs/alerts.md) and write its alerts to the output; "
                             "a resumed replay alerts on what it read after resuming only (use --fresh)")
    add_settings_flags(parser, SETTINGS_FLAGS)
    add_connection_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    request = Request(parse_bound(args.start), parse_bound(args.stop), args.version, args.partitions,
                      args.lookback, args.write_partial, alerts=args.alerts)
    if args.dry_run:
        print_dry_run(asyncio.run(dry_run(settings, request)))
        return 0
    from streams.runtime import tune_gc
    tune_gc(settings)
    key = checkpoint_key(settings.topic_events, args.version, args.start, args.stop, args.partitions, args.lookback)
    path = default_path(settings.data_dir, settings.topic_events, args.version, key)
    return asyncio.run(_replay(args, settings, request, key, args.checkpoint or path))


async def _replay(args: argparse.Namespace, settings: Any, request: Request, key: str, path: Any) -> int:
    from pathlib import Path
    outputs, publishers = _outputs(args, settings)
    for publisher in publishers:
        await publisher.start()
    try:
        with rich_progress() as progress:
            output = Tee(*outputs)
            outcome = await run_replay(settings, request, output, key=key, path=Path(path),
                                       progress=progress, fresh=args.fresh)
        if args.alerts:
            output.emit_alerts(outcome.alerts)
            await output.commit()
            print(f"alerts: {len(outcome.alerts)}")
    finally:
        for publisher in publishers:
            await publisher.stop()
        for output in outputs:
            if isinstance(output, ClickHouseOutput):
                output.writer.close()
    print_outcome(outcome, Path(path))
    return 0


def _outputs(args: argparse.Namespace, settings: Any) -> tuple[list[Any], list[Any]]:
    publishers: list[Any] = [DlqOutput(settings)] if args.dlq else []
    if args.output == "topic":
        publishers.append(TopicOutput(settings))
        return publishers, publishers
    return [clickhouse_output(settings.clickhouse_dsn, settings.clickhouse_database, settings.redact_content,
                              backoff=settings.sink_backoff()),
            *publishers], publishers


def clickhouse_output(dsn: str, database: str, redact_content: bool = False, *,
                      backoff: Backoff = DEFAULT_BACKOFF) -> ClickHouseOutput:
    resolved = resolve_dsn(dsn)
    if worker_url(resolved):
        raise CliError("exclusive access to the embedded ClickHouse path",
                       f"a running worker holding {resolved} (see {WORKER_FILE} there)",
                       "use --output topic: the worker's sink agent then writes the replayed records")
    client, db = open_direct(Settings.from_env({"clickhouse": resolved, "clickhouse_database": database}))
    return ClickHouseOutput(Writer(lambda: client, db, backoff=backoff, redact_content=redact_content))
