"""`signals calibrate PATH... --out triage.toml`: fit the triage weights on your own labelled trajectories.

Fits both stages of detectors/triage.py (the trajectory weights, then the cohort stage) on every
labelled trajectory, prints the held-out-fold figures of the same fit (grouped by ``--group``, so a
task is never both fitted and scored), and writes a TOML config that ``analyze``, ``load``,
``worker`` and ``replay`` read with ``--triage-config`` (or ``SIGNALS_TRIAGE_CONFIG``).
Labels: τ-bench ``reward``, a ``--labels`` JSONL of ``{"id": ..., "label": ...}``, feedback events,
or (``--from-labels``) the reviewers' labels of the review page (the ``labels`` table): with no PATH,
the labelled trajectories are rebuilt from their stored events; with PATHs, the reviewers' labels win
over the files' own. ``informative`` counts as not failed; several reviewers: the most given label.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from detectors.adapters import AdapterError
from detectors.adapters.base import Trajectory
from detectors.adapters.events import decode_events
from detectors.calibration import DEFAULT_L2, Labelled, evidence_names, fit, out_of_fold
from detectors.evaluation import auc
from detectors.labelled import GROUPS, LabelError, label_value, load, load_trajectories, read_label_file
from detectors.session import Engine
from detectors.triage import TriageConfig, dump_config, load_config, packaged_config
from streams.cli.commands.flags import add_connection_args
from streams.cli.commands.sample import run_query
from streams.errors import CliError
from streams.settings import Settings


def register(sub: Any) -> None:
    parser = sub.add_parser("calibrate", help="fit triage weights on labelled trajectories (grouped CV)",
                            description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    add_data_arguments(parser)
    parser.add_argument("--out", metavar="FILE", help="write the fitted config here (TOML); default: print it")
    parser.set_defaults(func=run)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="labelled trajectory files (τ-bench results, ...)")
    parser.add_argument("--labels", metavar="FILE.jsonl", help='labels by id: {"id": ..., "label": "failure"|"fine"}')
    parser.add_argument("--from-labels", action="store_true",
                        help="the reviewers' labels in ClickHouse (signals serve); no PATH: their stored trajectories")
    add_connection_args(parser)
    parser.add_argument("--models", metavar="FILE.json", help="agent model by trajectory id, for per-model figures")
    parser.add_argument("--group", choices=GROUPS, default="task",
                        help="cross-validation groups: no group is in two folds (default: task)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="fold assignment and sampling seed (default 0)")
    parser.add_argument("--l2", type=float, default=DEFAULT_L2, help=f"L2 penalty (default {DEFAULT_L2})")


def load_data(args: argparse.Namespace) -> Labelled:
    if not args.paths and not args.from_labels:
        raise CliError("trajectory files, or --from-labels", "neither", "pass PATH... or --from-labels")
    try:
        labels = read_label_file(args.labels) if args.labels else None
        models = _read_models(args.models) if args.models else None
        if args.from_labels:
            return from_reviews(args, labels or {}, models)
        return load(args.paths, labels=labels, models=models, group=args.group)
    except LabelError as error:
        raise CliError("labelled trajectories", error.got, error.fix) from None
    except AdapterError as error:
        raise CliError(error.expected, error.got + (f" (at {error.where})" if error.where else ""), error.fix) from None


def from_reviews(args: argparse.Namespace, labels: dict[str, bool], models: dict[str, str] | None) -> Labelled:
    """The reviewers' labels (they win over ``labels``), on the files given or on the stored trajectories."""
    rows = run_query(args, "labelled", {})
    reviewed = {**labels, **{row["id"]: label_value(row["label"]) for row in rows}}
    if args.paths:
        return load(args.paths, labels=reviewed, models=models, group=args.group)
    stored = [("clickhouse", Trajectory(id=row["id"], events=decode_events(row["events"], f"stored {row['id']}")))
              for row in rows if row["events"]]
    return load_trajectories(stored, labels=reviewed, models=models, group=args.group)


def _read_models(path: str) -> dict[str, str]:
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise LabelError(f"{path}: {error}", 'a JSON object {"<trajectory id>": "<model>", ...}') from None
    if not isinstance(data, dict):
        raise LabelError(f"{path}: a {type(data).__name__}", 'a JSON object {"<trajectory id>": "<model>", ...}')
    return {str(k): str(v) for k, v in data.items()}


def triage_config(args: argparse.Namespace) -> TriageConfig:
    path = getattr(args, "triage_config", None) or Settings.from_env().triage_config
    if not path:
        return packaged_config()
    try:
        return load_config(path)
    except ValueError as error:
        raise CliError("a triage config written by `signals calibrate --out`", str(error),
                       "check the path, or rerun signals calibrate") from None


def engine_for(args: argparse.Namespace) -> Engine | None:
    """An engine with ``--triage-config``'s (or SIGNALS_TRIAGE_CONFIG's) weights; None: the default."""
    config = triage_config(args)
    return None if config is packaged_config() else Engine(triage=config)


def run(args: argparse.Namespace) -> int:
    data = load_data(args)
    if len(set(data.failed)) < 2:
        raise CliError("both failed and successful trajectories", f"{len(data.failed)} trajectories, "
                       f"{sum(data.failed)} failed", "calibrate on labels with both outcomes")
    names = evidence_names(data)
    trajectory, combined = out_of_fold(data, names, folds=args.folds, seed=args.seed, l2=args.l2)
    command = "signals calibrate " + " ".join(shlex.quote(p) for p in _portable(args))
    config = fit(data, names, l2=args.l2, source=f"{command}\n{len(data.failed)} trajectories, "
                 f"{sum(data.failed)} failed; held-out-fold AUC {auc(combined, data.failed):.3f} "
                 f"(trajectory part {auc(trajectory, data.failed):.3f}), folds grouped by {args.group}")
    print(f"held-out folds (grouped by {args.group}, {args.folds} folds): AUC {auc(combined, data.failed):.3f} "
          f"combined, {auc(trajectory, data.failed):.3f} trajectory part; "
          f"{sum(1 for c in data.cohorts if c.peers)} of {len(data.failed)} trajectories with cohort peers")
    for path in sorted(set(data.files)):
        rows = [i for i, f in enumerate(data.files) if f == path]
        failed = [data.failed[i] for i in rows]
        print(f"  {path}: AUC {auc([combined[i] for i in rows], failed):.3f} combined, "
              f"{auc([trajectory[i] for i in rows], failed):.3f} trajectory part ({len(rows)} trajectories)")
    text = dump_config(config)
    if args.out:
        Path(args.out).write_text(text, "utf-8")
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0


def _portable(args: argparse.Namespace) -> list[str]:
    """The command's arguments with paths as given (relative stays relative: no machine paths)."""
    out = [*args.paths, "--group", args.group, "--folds", str(args.folds), "--seed", str(args.seed),
           "--l2", str(args.l2)]
    if args.labels:
        out += ["--labels", args.labels]
    if args.from_labels:
        out += ["--from-labels"]
    if args.out:
        out += ["--out", args.out]
    return out
