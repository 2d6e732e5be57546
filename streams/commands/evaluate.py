"""`signals evaluate PATH...`: how well triage_score ranks failed trajectories first.

Labels come from the files (τ-bench ``reward``: failure means reward < 1). Baselines (random by
seeded hash, length, tool errors, signal count, low quality score) are computed in the same run.
"""

from __future__ import annotations

import argparse
import json
from statistics import mean
from typing import Any

from detectors.adapters import AdapterError, read_trajectories
from detectors.evaluation import BASELINES, Scorer, auc, precision_at_k, random_scorer
from detectors.model import TrajectoryReport
from detectors.session import analyze
from streams.errors import CliError


def register(sub: Any) -> None:
    parser = sub.add_parser("evaluate", help="AUC and precision@k of triage_score against failure labels")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="labelled trajectory files (τ-bench results)")
    parser.add_argument("--k", type=int, action="append", help="precision@k cut-offs (default 10, 20)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(func=run)


def load_labelled(paths: list[str]) -> tuple[list[TrajectoryReport], list[bool]]:
    reports, labels = [], []
    for path in paths:
        try:
            for trajectory in read_trajectories(path):
                reward = trajectory.labels.get("reward")
                if reward is None:
                    raise CliError("trajectories with a `reward` label (τ-bench result files)",
                                   f"trajectory {trajectory.id!r} in {path} without one",
                                   "pass τ-bench result files (task_id, trial, reward, traj)")
                reports.append(analyze(trajectory.id, trajectory.events))
                labels.append(float(reward) < 1.0)
        except AdapterError as error:
            raise CliError("a readable labelled trajectory file", str(error), "check the path and format") from error
    return reports, labels


RANDOM_SEEDS = 20


def score_row(name: str, scorers: list[Scorer], reports: list[TrajectoryReport], labels: list[bool],
              cutoffs: list[int]) -> dict[str, Any]:
    """AUC and precision@k, averaged over the scorers (several only for seeded random)."""
    ids = [r.id for r in reports]
    runs = [[scorer(r) for r in reports] for scorer in scorers]
    row: dict[str, Any] = {"method": name, "auc": round(mean(auc(s, labels) for s in runs), 4)}
    for k in cutoffs:
        row[f"p@{k}"] = round(mean(precision_at_k(s, labels, k, ids) for s in runs), 4)
    return row


def evaluate(reports: list[TrajectoryReport], labels: list[bool], cutoffs: list[int]) -> list[dict[str, Any]]:
    rows = [score_row("triage_score (signals)", [lambda r: r.triage_score], reports, labels, cutoffs)]
    rows.append(score_row(f"random (mean of {RANDOM_SEEDS} seeds)",
                          [random_scorer(seed) for seed in range(RANDOM_SEEDS)], reports, labels, cutoffs))
    rows += [score_row(name, [scorer], reports, labels, cutoffs) for name, scorer in BASELINES.items()]
    return rows


def run(args: argparse.Namespace) -> int:
    reports, labels = load_labelled(args.paths)
    if len(set(labels)) < 2:
        raise CliError("both failed and successful trajectories", f"{len(labels)} trajectories, {sum(labels)} failed",
                       "evaluate on a file with mixed outcomes")
    cutoffs = args.k or [10, 20]
    rows = evaluate(reports, labels, cutoffs)
    summary = {"trajectories": len(labels), "failed": sum(labels), "base_rate": round(sum(labels) / len(labels), 4)}
    if args.format == "json":
        print(json.dumps({**summary, "methods": rows}))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{summary['trajectories']} trajectories, {summary['failed']} failed "
                        f"(base rate {summary['base_rate']:.2f})")
    for column in rows[0]:
        table.add_column(column, justify="left" if column == "method" else "right")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    Console().print(table)
    return 0
