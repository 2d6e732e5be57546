"""`signals evaluate PATH...`: how well triage finds failed trajectories, on data it was not fitted on.

Labels come from the files (τ-bench ``reward``: failure means reward < 1), a ``--labels`` JSONL, or
feedback events. Scores that are fitted are cross-validated by group (``--group task``: no task in
two folds). See streams/evaluation.py for what is reported; ``--format json`` for machines,
``--plot FILE.png`` for ROC and share-at-n curves.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from streams import evaluation
from streams.cli.commands.calibrate import add_data_arguments, load_data, triage_config
from streams.errors import CliError


def register(sub: Any) -> None:
    parser = sub.add_parser("evaluate", help="grouped-CV AUC, sample shares and ablation of triage against labels",
                            description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    add_data_arguments(parser)
    parser.add_argument("--n", type=int, action="append", metavar="N",
                        help="sample budgets for the sampling experiment (default 20 and 50)")
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="ROUNDS",
                        help="bootstrap rounds for the intervals (default 1000)")
    parser.add_argument("--random-seeds", type=int, default=100, metavar="K",
                        help="random samples averaged for the random baseline (default 100)")
    parser.add_argument("--no-ablation", action="store_true", help="skip the per-evidence table (faster)")
    parser.add_argument("--triage-config", metavar="FILE",
                        help="weights to report as 'configured' (default: the packaged triage.toml)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--plot", metavar="FILE.png", help="write ROC and share-at-n curves (needs matplotlib)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    data = load_data(args)
    if len(set(data.failed)) < 2:
        raise CliError("both failed and successful trajectories",
                       f"{len(data.failed)} trajectories, {sum(data.failed)} failed",
                       "evaluate on files with mixed outcomes")
    study = evaluation.build(data, triage_config(args), folds=args.folds, seed=args.seed, l2=args.l2,
                             budgets=args.n or [20, 50], rounds=args.bootstrap, random_seeds=args.random_seeds)
    result = summarise(study, args)
    if args.plot:
        plot(study, args.plot)
    if args.format == "json":
        print(json.dumps(result))
    else:
        render(result)
    return 0


def summarise(study: evaluation.Study, args: argparse.Namespace) -> dict[str, Any]:
    data = study.data
    out: dict[str, Any] = {
        "trajectories": len(data.failed), "failed": sum(data.failed), "group": args.group, "folds": args.folds,
        "with_peers": sum(1 for c in data.cohorts if c.peers), "slices": [],
    }
    for label, rows in evaluation.slices(data):
        failed = sum(data.failed[i] for i in rows)
        entry: dict[str, Any] = {"slice": label, "trajectories": len(rows), "failed": failed,
                                 "base_rate": round(failed / len(rows), 4) if rows else None}
        if 0 < failed < len(rows):
            entry["auc"] = evaluation.auc_table(study, rows)
            entry["samples"] = evaluation.sample_table(study, rows)
        out["slices"].append(entry)
    out["majority_failed_cohorts"] = evaluation.majority_failed(study, study.budgets[0])
    if not args.no_ablation:
        out["evidence"] = evaluation.evidence_table(study, args.folds, args.seed, args.l2)
    return out


def _fmt(cell: dict[str, Any] | None) -> str:
    if not cell or cell.get("value") is None:
        return "-"
    if cell.get("low") is None:
        return f"{cell['value']:.3f}"
    return f"{cell['value']:.3f} [{cell['low']:.2f}, {cell['high']:.2f}]"


def render(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    console.print(f"{result['trajectories']} trajectories, {result['failed']} failed; "
                  f"{result['with_peers']} with cohort peers; folds grouped by {result['group']}")
    for entry in result["slices"]:
        if "auc" not in entry:
            continue
        title = f"{entry['slice']}: {entry['trajectories']} trajectories, base rate {entry['base_rate']:.2f}"
        table = Table(title=f"AUC for failure, 95% CI: {title}")
        table.add_column("method")
        table.add_column("AUC [95% CI]", justify="right")
        for method, cell in entry["auc"].items():
            table.add_row(method, _fmt(cell))
        console.print(table)
        samples = Table(title=f"failure share of a budget-n sample: {entry['slice']}")
        samples.add_column("n", justify="right")
        for strategy in (*evaluation.STRATEGIES, "lift (signals / random)"):
            samples.add_column(strategy, justify="right")
        for n, row in entry["samples"].items():
            lift = row["lift (signals / random)"]
            samples.add_row(n, *(_fmt(row[s]) for s in evaluation.STRATEGIES), f"{lift:.2f}x" if lift else "-")
        console.print(samples)
    m = result["majority_failed_cohorts"]
    if m["successes"]:
        console.print(f"cohorts where most runs failed: {m['cohorts']}; their {m['successes']} successes rank at "
                      f"{m['success_rank']:.2f} on average (0 = top), their {m['failures']} failures at "
                      f"{m['failure_rank']:.2f}; successes in the top-{study_n(m)} sample: {m[f'successes_in_top_{study_n(m)}']}")
    if "evidence" in result:
        table = Table(title="evidence: AUC alone, and cross-validated AUC without it (ablation)")
        labels = list(result["evidence"][0]["without"])
        table.add_column("evidence")
        for label in labels:
            table.add_column(f"alone: {label}", justify="right")
        for label in labels:
            table.add_column(f"without: {label}", justify="right")
        for row in result["evidence"]:
            table.add_row(row["evidence"], *(f"{row['alone'].get(k, float('nan')):.3f}" if k in row["alone"] else ""
                                             for k in labels),
                          *(f"{row['without'][k]:.3f}" for k in labels))
        console.print(table)


def study_n(majority: dict[str, Any]) -> int:
    return int(next(k for k in majority if k.startswith("successes_in_top_")).rsplit("_", 1)[1])


def plot(study: evaluation.Study, path: str) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CliError("matplotlib for --plot", "it is not installed",
                       "pip install 'agent-signals[plot]' (or leave out --plot)") from None
    data = study.data
    rows = list(range(len(data.failed)))
    figure, (roc, shares) = plt.subplots(1, 2, figsize=(12, 5))
    for method in (evaluation.SIGNALS, evaluation.HEURISTIC, "length (events)", "tool errors"):
        fpr, tpr = evaluation.roc_points(study.scores[method], data.failed)
        roc.plot(fpr, tpr, label=method)
    roc.plot([0, 1], [0, 1], linestyle=":", color="grey", label="random")
    roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC for failure (pooled)")
    roc.legend(fontsize=8)
    budgets = list(range(5, min(len(rows), 100) + 1, 5))
    for strategy in evaluation.STRATEGIES:
        seeds = range(study.random_seeds if strategy == "random" else 1)
        curve = [sum(evaluation.share(study, strategy, rows, n, s) for s in seeds) / len(seeds) for n in budgets]
        shares.plot(budgets, curve, label=strategy, marker="." if strategy == "signals" else None)
    shares.axhline(sum(data.failed) / len(data.failed), linestyle=":", color="grey", label="base rate")
    shares.set(xlabel="sample size n", ylabel="failure share", title="failure share of a budget-n sample (pooled)")
    shares.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
