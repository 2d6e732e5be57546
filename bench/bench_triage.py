"""Triage quality on the τ-bench dev files, the way a held-out check sees it.

For each file alone (cohorts only within that file, as for a new file of a new fleet), for the
three together, and for copies with every task id made opaque (live traffic has no task key): the
failure AUC and the 20- and 50-sample failure shares of `signals` (the packaged weights, and the
grouped-cross-validated fit), `heuristic` and `random`, with 95% bootstrap intervals over tasks.
Every copy is blinded first: `info` removed and the reward kept only beside the trajectory as the
label (scoring never reads it).

    python bench/bench_triage.py [--data ../shared/data/tau-bench] [--bootstrap 1000]

Prints one table; `--json` prints the raw figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

from detectors.calibration import auc_interval, combined_scores, evidence_names, fit
from detectors.evaluation import auc
from detectors.labelled import load
from detectors.triage import packaged_config
from streams import evaluation

FILES = ("gpt-4o-airline-dev.json", "othermodels-airline-dev.json", "grok-retail-dev.json")
SHOWN = (evaluation.SIGNALS, "signals (configured weights)", evaluation.HEURISTIC, "length (events)",
         "tool calls", "tool errors")


def blinded_copy(source: Path, target: Path, *, opaque: bool) -> None:
    records = json.loads(source.read_text())
    for record in records:
        record.pop("info", None)
        if opaque:
            record["task_id"] = uuid.uuid4().hex[:12]
    target.write_text(json.dumps(records))


def study(paths: list[str], rounds: int) -> dict[str, Any]:
    data = load(paths)
    built = evaluation.build(data, packaged_config(), folds=5, seed=0, l2=10.0, budgets=[20, 50],
                             rounds=rounds, random_seeds=100)
    rows = list(range(len(data.failed)))
    packaged = dataclasses.replace(built, ranked_by="signals (configured weights)")
    return {"auc": evaluation.auc_table(built, rows), "samples": evaluation.sample_table(built, rows),
            "samples_packaged": evaluation.sample_table(packaged, rows),
            "trajectories": len(rows), "base_rate": sum(data.failed) / len(rows),
            "with_peers": sum(1 for c in data.cohorts if c.peers)}


def leave_one_file_out(paths: list[str], rounds: int) -> dict[str, Any]:
    """Weights fitted on the other files only, scored on this one (its cohorts within itself):
    a domain or a set of agent models the weights never saw."""
    out = {}
    for held in paths:
        train = load([p for p in paths if p != held])
        config = fit(train, evidence_names(train))
        data = load([held])
        scores = combined_scores(data, config)
        heuristic = [r.tool_errors * 1e6 + r.events for r in data.reports]
        top = sorted(range(len(scores)), key=lambda i: -scores[i])[:20]
        out[Path(held).name] = {
            "auc": {"value": auc(scores, data.failed),
                    **dict(zip(("low", "high"), auc_interval(scores, data.failed, data.groups, rounds), strict=True))},
            "heuristic_auc": auc(heuristic, data.failed),
            "share_20": sum(data.failed[i] for i in top) / len(top)}
    return out


def cell(c: dict[str, Any]) -> str:
    return f"{c['value']:.3f} [{c['low']:.2f},{c['high']:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/tau-bench")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for opaque in (False, True):
            copies = []
            for name in FILES:
                target = Path(tmp) / f"{'opaque-' if opaque else ''}{name}"
                blinded_copy(Path(args.data) / name, target, opaque=opaque)
                copies.append(str(target))
            mode = "task ids opaque" if opaque else "task ids kept"
            for name, path in zip(FILES, copies, strict=True):
                results[f"{name} ({mode})"] = study([path], args.bootstrap)
            results[f"all three ({mode})"] = study(copies, args.bootstrap)
            results[f"leave one file out ({mode})"] = leave_one_file_out(copies, args.bootstrap)
    if args.json:
        print(json.dumps(results))
        return
    for label, r in results.items():
        if label.startswith("leave one file out"):
            print(f"\n## {label}: fitted on the other two files, scored on this one")
            for name, row in r.items():
                print(f"{name}: AUC {cell(row['auc'])} (heuristic {row['heuristic_auc']:.3f}); "
                      f"20-sample failure share {row['share_20']:.2f}")
            continue
        print(f"\n## {label}: {r['trajectories']} trajectories, base rate {r['base_rate']:.2f}, "
              f"{r['with_peers']} with peers")
        print("AUC: " + "; ".join(f"{m.split(' (')[0] if m != 'signals (configured weights)' else 'signals packaged'}"
                                  f" {cell(r['auc'][m])}" for m in SHOWN))
        for n, row in r["samples"].items():
            packaged = r["samples_packaged"][n]["signals"]
            print(f"n={n}: signals(cv) {cell(row['signals'])}; signals(packaged, in-sample) {cell(packaged)}; "
                  f"heuristic {cell(row['heuristic'])}; random {cell(row['random'])}; "
                  f"lift(cv) {row['lift (signals / random)']:.2f}x")


if __name__ == "__main__":
    main()
