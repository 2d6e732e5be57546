"""The triage study behind `signals evaluate`: grouped cross-validation, intervals, the sampling experiment.

For labelled files it reports, pooled and per file, per domain (agent configuration) and per agent
model: the AUC for failure of the cross-validated triage score (fitted on other groups only), of the
configured triage (the packaged default unless ``--triage-config``), and of every trivial baseline;
the failure share of a budget-n sample by each strategy (``signals``, ``heuristic``, ``random`` over
many seeds, ``stratified``, ``diverse``, the same pickers as ``signals sample``) with the lift over
random; each piece of evidence alone and the cross-validated score without it (ablation).
Intervals are 95% bootstrap percentiles over whole groups (tasks): one trajectory moves a
20-sample by 0.05, so read the intervals, not the points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import mean
from typing import Any

from detectors.calibration import (
    Labelled,
    auc_interval,
    bootstrap,
    combined_scores,
    evidence_names,
    out_of_fold,
)
from detectors.evaluation import auc, stable_hash
from detectors.model import category_of
from detectors.triage import TriageConfig
from sinks.sampling import Candidate, round_robin, set_cover

STRATEGIES = ("signals", "heuristic", "random", "stratified", "diverse")


@dataclass
class Study:
    data: Labelled
    scores: dict[str, list[float]]  # method -> score per row (higher: review first)
    budgets: list[int]
    rounds: int
    random_seeds: int
    ranked_by: str = "signals (cross-validated)"  # the score the signals/stratified/diverse picks use


def build(data: Labelled, config: TriageConfig, *, folds: int, seed: int, l2: float, budgets: list[int],
          rounds: int, random_seeds: int) -> Study:
    names = evidence_names(data)
    cv_trajectory, cv_combined = out_of_fold(data, names, folds=folds, seed=seed, l2=l2)
    reports = data.reports
    scores = {
        "signals (cross-validated)": cv_combined,
        "signals, trajectory part only (cross-validated)": cv_trajectory,
        "signals (configured weights)": combined_scores(data, config),
        "heuristic (tool errors, then length)": [r.tool_errors * 1e6 + r.events for r in reports],
        "length (events)": [float(r.events) for r in reports],
        "tool calls": [float(r.tool_calls) for r in reports],
        "tool errors": [float(r.tool_errors) for r in reports],
        "signal count": [float(sum(r.counts.values())) for r in reports],
        "low quality score": [-r.quality_score for r in reports],
    }
    return Study(data, scores, budgets, rounds, random_seeds)


SIGNALS = "signals (cross-validated)"
HEURISTIC = "heuristic (tool errors, then length)"


def slices(data: Labelled) -> list[tuple[str, list[int]]]:
    out = [("pooled", list(range(len(data.failed))))]
    for kind, keys in (("file", data.files), ("domain", [domain_of(r) for r in data.reports]), ("model", data.models)):
        distinct = sorted(set(keys))
        if len(distinct) > 1 or kind == "file":
            out += [(f"{kind} {key}", [i for i, k in enumerate(keys) if k == key]) for key in distinct]
    return out


def domain_of(report: Any) -> str:
    return f"{report.agent_id or 'agent?'}/{report.context_key[:8] or 'no-system-prompt'}"


# -- sampling ------------------------------------------------------------------------------------
def pick(strategy: str, study: Study, rows: Sequence[int], n: int, seed: int = 0) -> list[int]:
    """The rows a budget-n sample by ``strategy`` takes (the same pickers as `signals sample`)."""
    data, score = study.data, study.scores[study.ranked_by]
    if strategy not in ORDERINGS:
        return _pick_by_signals(strategy, study, rows, n, seed)
    order = ORDERINGS[strategy]
    return sorted(rows, key=lambda i: (*order(data, score, i), stable_hash(_uid(data, i), seed)))[:n]


# What each ordered strategy sorts by before the seeded hash (as sinks/sampling.py's ORDERS).
ORDERINGS: dict[str, Callable[[Labelled, list[float], int], tuple[float, ...]]] = {
    "signals": lambda data, score, i: (-score[i],),
    "heuristic": lambda data, score, i: (-data.reports[i].tool_errors, -data.reports[i].events),
    "random": lambda data, score, i: (),
}




def _pick_by_signals(strategy: str, study: Study, rows: Sequence[int], n: int, seed: int) -> list[int]:
    data, score = study.data, study.scores[study.ranked_by]
    by_uid: dict[str, int] = {}
    groups: dict[str, list[Candidate]] = {}
    for position, i in enumerate(rows):
        uid = f"{position}:{_uid(data, i)}"  # resampled rows stay distinct
        by_uid[uid] = i
        counts = data.reports[i].counts
        keys = {category_of(t) for t in counts} if strategy == "stratified" else set(counts)
        for k in keys:
            groups.setdefault(k, []).append((-score[i], stable_hash(uid, seed), uid))
    strata = [(k, sorted(c)[:n]) for k, c in sorted(groups.items())]
    if strategy == "stratified":
        chosen = round_robin(strata, n)
    else:
        candidates = {c[2]: c for _, top in strata for c in top}
        types = {uid: set(data.reports[by_uid[uid]].counts) for uid in candidates}
        chosen = set_cover(list(candidates.values()), types, n)
    return [by_uid[uid] for uid in chosen]


def _uid(data: Labelled, i: int) -> str:
    return f"{data.files[i] if data.files else ''}|{data.reports[i].id}"


def share(study: Study, strategy: str, rows: Sequence[int], n: int, seed: int = 0) -> float:
    picked = pick(strategy, study, rows, n, seed)
    return sum(study.data.failed[i] for i in picked) / len(picked) if picked else math.nan


def sample_table(study: Study, rows: list[int]) -> dict[str, dict[str, Any]]:
    groups = [study.data.groups[i] for i in rows]
    out: dict[str, dict[str, Any]] = {}
    for n in study.budgets:
        row: dict[str, Any] = {}
        randoms = sorted(share(study, "random", rows, n, seed) for seed in range(study.random_seeds))
        row["random"] = _interval(mean(randoms), (randoms[int(0.025 * (len(randoms) - 1))],
                                                   randoms[int(0.975 * (len(randoms) - 1))]))
        for strategy in ("signals", "heuristic", "stratified", "diverse"):
            point = share(study, strategy, rows, n)
            def resampled(sub: list[int], strategy: str = strategy, n: int = n) -> float:
                return share(study, strategy, [rows[j] for j in sub], n)

            ci = bootstrap(resampled, len(rows), rounds=max(50, study.rounds // 5), groups=groups)
            row[strategy] = _interval(point, ci)
        row["lift (signals / random)"] = round(row["signals"]["value"] / row["random"]["value"], 3) \
            if row["random"]["value"] else None
        out[str(n)] = row
    return out


# -- AUC, evidence, ablation ----------------------------------------------------------------------
def auc_table(study: Study, rows: list[int]) -> dict[str, dict[str, Any]]:
    failed = [study.data.failed[i] for i in rows]
    groups = [study.data.groups[i] for i in rows]
    out = {}
    for method, scores in study.scores.items():
        picked = [scores[i] for i in rows]
        out[method] = _interval(auc(picked, failed), auc_interval(picked, failed, groups, study.rounds))
    return out


def evidence_table(study: Study, folds: int, seed: int, l2: float) -> list[dict[str, Any]]:
    """Each piece of evidence: its AUC alone per domain, and the CV AUC per domain without it."""
    data = study.data
    names = evidence_names(data)
    parts = [(label, rows) for label, rows in slices(data) if label == "pooled" or label.startswith("domain")]
    full = {label: auc([study.scores[SIGNALS][i] for i in rows], [data.failed[i] for i in rows])
            for label, rows in parts}
    out = [{"evidence": "(all, cross-validated)", "alone": {}, "without": {k: round(v, 4) for k, v in full.items()}}]
    for name in [*names, "cohort"]:
        alone = {}
        for label, rows in parts:
            values = [_value(data, i, name) for i in rows]
            alone[label] = round(auc(values, [data.failed[i] for i in rows]), 4)
        kept = [n for n in names if n != name]
        _, combined = out_of_fold(data, kept, folds=folds, seed=seed, l2=l2, cohort=name != "cohort")
        without = {label: round(auc([combined[i] for i in rows], [data.failed[i] for i in rows]), 4)
                   for label, rows in parts}
        out.append({"evidence": name, "alone": alone, "without": without})
    return out


def _value(data: Labelled, i: int, name: str) -> float:
    if name == "cohort":
        d = data.cohorts[i].disagreement
        return 0.5 if d is None else d
    return data.values[i].get(name, 0.0)


def _interval(value: float, ci: tuple[float, float]) -> dict[str, Any]:
    return {"value": _round(value), "low": _round(ci[0]), "high": _round(ci[1])}


def _round(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 4)


def roc_points(scores: Sequence[float], failed: Sequence[bool]) -> tuple[list[float], list[float]]:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    positives = sum(failed) or 1
    negatives = (len(failed) - sum(failed)) or 1
    fpr, tpr, tp, fp = [0.0], [0.0], 0, 0
    for i in order:
        tp += failed[i]
        fp += not failed[i]
        fpr.append(fp / negatives)
        tpr.append(tp / positives)
    return fpr, tpr


def majority_failed(study: Study, n: int) -> dict[str, Any]:
    """Successes in cohorts where most runs failed: does the majority turn them into leads?

    Their rank percentile (0 = top of the queue) next to that of the failures in the same cohorts,
    and how many of them a budget-n `signals` sample takes."""
    data, score = study.data, study.scores[study.ranked_by]
    members: dict[tuple[str, ...], list[int]] = {}
    for i, (r, c) in enumerate(zip(data.reports, data.cohorts, strict=True)):
        if c.peers:
            key = r.task_key if c.basis == "task" else r.request_key
            members.setdefault((r.agent_id, r.context_key, c.basis, key), []).append(i)
    chosen = [rows for rows in members.values() if sum(data.failed[i] for i in rows) * 2 > len(rows)]
    successes = [i for rows in chosen for i in rows if not data.failed[i]]
    failures = [i for rows in chosen for i in rows if data.failed[i]]
    order = sorted(range(len(score)), key=lambda i: (-score[i], stable_hash(_uid(data, i))))
    rank = {i: position / max(len(order) - 1, 1) for position, i in enumerate(order)}
    top = set(pick("signals", study, list(range(len(score))), n))
    return {"cohorts": len(chosen), "successes": len(successes), "failures": len(failures),
            "success_rank": _round(mean(rank[i] for i in successes)) if successes else None,
            "failure_rank": _round(mean(rank[i] for i in failures)) if failures else None,
            f"successes_in_top_{n}": sum(i in top for i in successes)}
