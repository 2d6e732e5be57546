"""`signals load PATH...`: analyze trajectory files and write records, signals and events to ClickHouse."""

from __future__ import annotations

import argparse
import time

from detectors.adapters import AdapterError, read_trajectories
from detectors.model import TrajectoryReport
from detectors.session import analyze
from sinks.clickhouse import SinkUnavailable
from sinks.migrate import migrate
from sinks.sink import Sink
from streams.commands.migrate import add_connection_args, open_direct
from streams.errors import CliError
from streams.settings import Settings

CHUNK = 1000  # reports handed to the sink at a time (the sink batches per table on its own)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("load", help="analyze trajectory files into ClickHouse")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="trajectory files (JSON or JSONL; - for stdin)")
    parser.add_argument("--pipeline-version", default="", help="version stamped on the records (e.g. 1.2.0)")
    add_connection_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    client, database = open_direct(args.dsn, args.database)
    migrate(client, database)  # idempotent: `load` works on a fresh database
    sink = Sink(lambda: client, database, redact_content=Settings.from_env().redact_content)
    start = time.perf_counter()
    try:
        trajectories, signals = load_paths(sink, args.paths, args.pipeline_version)
        sink.flush()
    except AdapterError as error:
        raise CliError("trajectory files in a supported format", str(error), "see `signals analyze --help`") from error
    except SinkUnavailable as error:
        raise CliError("a reachable ClickHouse", str(error.cause), "check SIGNALS_CLICKHOUSE and run `signals migrate`") from error
    finally:
        sink.holder.close()
    elapsed = max(time.perf_counter() - start, 1e-9)
    print(f"loaded {trajectories} trajectories, {signals} signals into {database} "
          f"in {elapsed:.2f} s ({trajectories / elapsed:,.0f} trajectories/s)")
    return 0


def load_paths(sink: Sink, paths: list[str], pipeline_version: str) -> tuple[int, int]:
    trajectories = signals = 0
    chunk: list[TrajectoryReport] = []
    events: list = []
    for path in paths:
        for trajectory in read_trajectories(path):
            report = analyze(trajectory.id, trajectory.events, pipeline_version=pipeline_version)
            chunk.append(report)
            events.extend(trajectory.events)
            trajectories, signals = trajectories + 1, signals + sum(report.counts.values())
            if len(chunk) >= CHUNK:
                sink.write_reports(chunk, events)
                chunk, events = [], []
    sink.write_reports(chunk, events)
    return trajectories, signals
