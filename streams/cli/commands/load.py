"""`signals load PATH...`: trajectory files straight into ClickHouse, no Kafka.

The files go through ``streams.pipeline.from_files`` (each trajectory ended as `signals produce`
ends it) and are written as the worker writes them: the records (with their signals) by the
records path, the events by the events path, so a file loaded gives the rows a worker gives for
the same file produced.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable

from detectors.adapters import AdapterError, read_trajectories
from sinks.migrate import migrate
from sinks.writer import ClickHouseUnavailable, Writer
from streams.cli.commands.flags import (
    add_connection_args,
    add_settings_flags,
    checked_engine,
    settings_from_args,
)
from streams.cli.commands.migrate import open_direct
from streams.errors import CliError
from streams.pipeline import FileRecord, from_files
from streams.runtime import tune_gc

CHUNK = 1000  # records handed to the sink at a time (the sink batches per table on its own)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("load", help="analyze trajectory files into ClickHouse")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="trajectory files (JSON or JSONL; - for stdin)")
    add_settings_flags(parser, ("pipeline_version", "redact_content", "triage_config"))
    add_connection_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    engine = checked_engine(settings)  # a bad config is a usage error, before any database is opened
    client, database = open_direct(settings)
    tune_gc(settings)
    writer = Writer(lambda: client, database, backoff=settings.sink_backoff(), redact_content=settings.redact_content)
    start = time.perf_counter()
    try:
        migrate(client, database)  # idempotent: `load` works on a fresh database
        trajectories = (t for path in args.paths for t in read_trajectories(path))
        count, signals = load_records(writer, from_files(trajectories, pipeline_version=settings.pipeline_version,
                                                       engine=engine))
    except AdapterError as error:
        raise CliError("trajectory files in a supported format", str(error), "see `signals analyze --help`") from error
    except ClickHouseUnavailable as error:
        raise CliError("a reachable ClickHouse", str(error.cause), "check SIGNALS_CLICKHOUSE and run `signals migrate`") from error
    finally:
        writer.holder.close()
    elapsed = max(time.perf_counter() - start, 1e-9)
    print(f"loaded {count} trajectories, {signals} signals into {database} "
          f"in {elapsed:.2f} s ({count / elapsed:,.0f} trajectories/s)")
    return 0


def load_records(writer: Writer, records: Iterable[FileRecord]) -> tuple[int, int]:
    """Write records and their events in chunks, then flush; returns (trajectories, signals)."""
    trajectories = signals = 0
    chunk: list[FileRecord] = []
    for record in records:
        chunk.append(record)
        trajectories, signals = trajectories + 1, signals + sum(record.report.counts.values())
        if len(chunk) >= CHUNK:
            _write(writer, chunk)
            chunk = []
    _write(writer, chunk)
    writer.flush()
    return trajectories, signals


def _write(writer: Writer, chunk: list[FileRecord]) -> None:
    writer.write_reports([r.report for r in chunk])  # signal rows dated from the record, as the worker's
    writer.write_events([e for r in chunk for e in r.events])
