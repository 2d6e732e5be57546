"""Measure each execution.consistency.* candidate on labelled τ-bench files: keep or drop.

    .venv/bin/python bench/bench_evidence.py [FILES...] [--json]

Default FILES are the three dev files beside the repository (../shared/data/tau-bench/). Every
candidate runs (all enabled, whatever the registry's default); detection sees only the events
(never the reward, never τ-bench's ``info``); the label (failure = reward < 1) is read here, after.

Per file and candidate (and a few variants, picked out by the signal's metadata): how many
trajectories it fires on, the failure rate when it fires vs the file's base rate, and the AUC of
its per-trajectory count alone. A candidate is KEPT when its failure rate when firing is above the
base rate in every file (and it fires in every file).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import msgspec

from detectors.adapters import read_trajectories
from detectors.evaluation import auc
from detectors.execution.consistency import KINDS, ConsistencyDetector
from detectors.model import Signal
from detectors.session import Engine, analyze

DATA = Path(__file__).resolve().parents[2] / "shared/data/tau-bench"
DEFAULT_FILES = [DATA / name for name in ("gpt-4o-airline-dev.json", "othermodels-airline-dev.json",
                                          "grok-retail-dev.json")]
ENGINE = Engine([ConsistencyDetector(enabled=frozenset(KINDS))])
LOOSE = Engine([ConsistencyDetector(enabled=frozenset({"unconfirmed_action"}), require_proposal=False)])

Pick = Callable[[Signal], bool]


def _kind(kind: str, **where: object) -> Pick:
    full = f"execution.consistency.{kind}"
    loose = bool(where.get("loose"))  # the require_proposal=False run is only counted where asked for
    return lambda s: (s.type == full and bool(s.metadata.get("loose")) == loose
                      and all(s.metadata.get(k) == v for k, v in where.items()))


CANDIDATES: dict[str, Pick] = {kind: _kind(kind) for kind in KINDS}
VARIANTS: dict[str, Pick] = {
    "unconfirmed_action/after_decline": _kind("unconfirmed_action", reason="after_decline"),
    "unconfirmed_action/no_proposal_needed": _kind("unconfirmed_action", loose=True),
    "ignored_error/error": _kind("ignored_error", problem="error"),
    "ignored_error/empty": _kind("ignored_error", problem="empty"),
    "ignored_error/claims_success": _kind("ignored_error", claims_success=True),
}


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (n is small here: one trajectory moves it a lot)."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return (round(centre - half, 3), round(centre + half, 3))


def measure(path: Path) -> dict[str, object]:
    counts: dict[str, list[int]] = {name: [] for name in (*CANDIDATES, *VARIANTS)}
    failed: list[bool] = []
    for trajectory in read_trajectories(str(path)):
        signals = analyze(trajectory.id, trajectory.events, engine=ENGINE).signals  # events only
        signals += [msgspec.structs.replace(s, metadata={**s.metadata, "loose": True})
                    for s in analyze(trajectory.id, trajectory.events, engine=LOOSE).signals]
        failed.append(float(trajectory.labels["reward"]) < 1.0)
        for name, pick in (*CANDIDATES.items(), *VARIANTS.items()):
            counts[name].append(sum(1 for s in signals if pick(s)))
    n, base = len(failed), sum(failed) / len(failed)
    rows: dict[str, dict[str, float | int | None]] = {}
    for name, values in counts.items():
        firing = [f for f, v in zip(failed, values, strict=True) if v]
        rows[name] = {
            "fires": len(firing), "fires_share": round(len(firing) / n, 3),
            "failure_rate_when_firing": round(sum(firing) / len(firing), 3) if firing else None,
            "failure_rate_95ci": wilson(sum(firing), len(firing)) if firing else None,
            "auc_alone": round(auc([float(v) for v in values], failed), 3),
        }
    return {"file": path.name, "trajectories": n, "base_failure_rate": round(base, 3), "candidates": rows}


def verdicts(results: list[dict[str, object]]) -> dict[str, bool]:
    out = {}
    for name in (*CANDIDATES, *VARIANTS):
        ok = True
        for result in results:
            row = result["candidates"][name]  # type: ignore[index]
            rate = row["failure_rate_when_firing"]
            ok = ok and rate is not None and rate > result["base_failure_rate"]  # type: ignore[operator]
        out[name] = ok
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT_FILES)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args()
    results = [measure(path) for path in args.files]
    keep = verdicts(results)
    if args.json:
        print(json.dumps({"files": results, "keep": keep}, indent=2))
        return
    for result in results:
        print(f"\n{result['file']}: {result['trajectories']} trajectories, base failure rate "
              f"{result['base_failure_rate']:.3f}")
        print(f"  {'candidate':38} {'fires':>11} {'fail|fires':>10} {'95% CI':>13} {'AUC alone':>9}")
        for name, row in result["candidates"].items():  # type: ignore[attr-defined]
            rate, ci = row["failure_rate_when_firing"], row["failure_rate_95ci"]
            interval = "-" if ci is None else f"{ci[0]:.2f}-{ci[1]:.2f}"
            print(f"  {name:38} {row['fires']:>4} ({row['fires_share']:>4.0%}) "
                  f"{'-' if rate is None else f'{rate:.3f}':>10} {interval:>13} {row['auc_alone']:>9.3f}")
    print("\nkeep (failure rate when firing above the base rate in every file):")
    for name, ok in keep.items():
        print(f"  {name:38} {'KEEP' if ok else 'drop'}")


if __name__ == "__main__":
    main()
