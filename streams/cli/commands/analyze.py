"""`signals analyze [--format table|jsonl] [--pipeline-version V] PATH...`: batch triage of files.

Each trajectory of each file (format detected from content; `-` is stdin) goes through the
pipeline as `signals load` and the worker take it (``streams.pipeline.from_files``: ended with a
SessionEnd as `signals produce` sends it) and is printed as it is done. ``--format`` defaults to ``table`` when
standard output is a terminal and ``jsonl`` otherwise (pipes, files), so scripts get JSONL.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from detectors.adapters import AdapterError, Trajectory, read_trajectories
from detectors.fleet import with_cohorts
from detectors.model import TrajectoryReport
from detectors.session import Engine
from streams.cli.commands.calibrate import engine_for
from streams.cli.output import render_table, report_row, write_jsonl
from streams.errors import CliError
from streams.pipeline import from_files


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "analyze", help="analyse trajectory files and print one report per trajectory",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="τ-bench, OpenAI, ShareGPT or events file (JSON, JSONL); `-` for stdin")
    parser.add_argument("--format", choices=("table", "jsonl"), default=None,
                        help="output format (default: table on a terminal, jsonl otherwise)")
    parser.add_argument("--pipeline-version", default="", metavar="V",
                        help="recorded in every report as pipeline_version")
    parser.add_argument("--triage-config", metavar="FILE", default=None,
                        help="triage weights written by `signals calibrate` (default: the packaged ones; "
                             "env SIGNALS_TRIAGE_CONFIG)")
    parser.add_argument("--no-cohort", action="store_true",
                        help="score each trajectory alone, as the streaming record does, and print as it goes "
                             "(default: the combined score, with runs of the same task or request as peers)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    output_format = args.format or ("table" if sys.stdout.isatty() else "jsonl")
    engine = engine_for(args)
    analysed = ((_analyze(t, args.pipeline_version, engine), t.labels)
                for path in args.paths for t in _trajectories(path))
    if not args.no_cohort:  # peers are the other trajectories of the input: score them together
        pairs = list(analysed)
        reports = with_cohorts([report for report, _ in pairs], engine.triage if engine else None)
        analysed = ((report, labels) for report, (_, labels) in zip(reports, pairs, strict=True))
    rows = (report_row(report, labels) for report, labels in analysed)
    if output_format == "jsonl":
        write_jsonl(rows)
    else:
        render_table(list(rows))
    return 0


def _analyze(trajectory: Trajectory, pipeline_version: str, engine: Engine | None) -> TrajectoryReport:
    (record,) = from_files([trajectory], pipeline_version=pipeline_version, **({"engine": engine} if engine else {}))
    return record.report


def _trajectories(path: str) -> Iterator[Trajectory]:
    try:
        yield from read_trajectories(path)
    except AdapterError as error:
        where = f" (at {error.where})" if error.where else ""
        raise CliError(error.expected, error.got + where, error.fix) from None
