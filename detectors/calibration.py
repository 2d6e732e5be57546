"""Fitting and checking triage weights on labelled trajectories (``signals calibrate`` / ``evaluate``).

Everything fitted is judged out of fold: folds are whole groups (by default the task), so no task is
ever both fitted and scored. Two stages, matching ``detectors/triage.py``:

1. the trajectory weights: an L2-regularised logistic over ``evidence_values`` (standardised to fit,
   written back on the raw scale);
2. the cohort stages, on trajectories that have peers: ``bias + scale * z + disagreement * d +
   outlying * o`` (shrunk), with ``z`` the stage-1 logit; once for task peers, and once for request
   peers found with every task key hidden (what live traffic without a task key gets).

Needs numpy (the ``calibrate`` extra); scoring with a fitted configuration does not.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from detectors.cohort import CohortEvidence, cohort_evidence, member_of
from detectors.evaluation import auc
from detectors.model import TrajectoryReport
from detectors.triage import (
    CohortStage,
    TriageConfig,
    combined_from_trajectory_score,
    packaged_config,
    sigmoid,
    triage_score,
)

DEFAULT_L2 = 10.0


@dataclass
class Labelled:
    """Labelled trajectories with everything scoring needs (no label is read while scoring)."""

    reports: list[TrajectoryReport]
    values: list[dict[str, float]]  # evidence_values of each
    failed: list[bool]
    groups: list[str]  # the cross-validation group of each (e.g. its task)
    files: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    cohorts: list[CohortEvidence] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.cohorts:
            self.cohorts = cohort_evidence([member_of(r) for r in self.reports])

    def subset(self, rows: Sequence[int]) -> Labelled:
        def pick(items: list[Any]) -> list[Any]:
            return [items[i] for i in rows] if items else []

        return Labelled(pick(self.reports), pick(self.values), pick(self.failed), pick(self.groups),
                        pick(self.files), pick(self.models), pick(self.cohorts))


# -- folds ---------------------------------------------------------------------------------------
def grouped_folds(groups: Sequence[str], k: int, seed: int = 0) -> list[int]:
    """A fold index per row; every group lies in exactly one fold, folds balanced by size."""
    sizes: dict[str, int] = {}
    for group in groups:
        sizes[group] = sizes.get(group, 0) + 1
    order = sorted(sizes)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda g: -sizes[g])  # stable: shuffled ties, biggest groups first
    k = max(1, min(k, len(order)))
    load = [0] * k
    fold_of: dict[str, int] = {}
    for group in order:
        target = min(range(k), key=lambda f: (load[f], f))
        fold_of[group] = target
        load[target] += sizes[group]
    return [fold_of[g] for g in groups]


# -- fitting -------------------------------------------------------------------------------------
def logistic(X: np.ndarray, y: np.ndarray, l2: float, offset: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """L2-penalised logistic regression by Newton steps on standardised columns; raw-scale (bias, w)."""
    mean = X.mean(axis=0) if len(X) else np.zeros(X.shape[1])
    scale = X.std(axis=0) if len(X) else np.ones(X.shape[1])
    scale[scale < 1e-9] = 1.0
    Z = np.c_[np.ones(len(X)), (X - mean) / scale]
    base = offset if offset is not None else np.zeros(len(X))
    w = np.zeros(Z.shape[1])
    penalty = l2 * np.diag(np.r_[0.0, np.ones(Z.shape[1] - 1)])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(base + Z @ w, -60, 60)))
        gradient = Z.T @ (p - y) + penalty @ w
        hessian = (Z * (p * (1 - p))[:, None]).T @ Z + penalty + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    raw = w[1:] / scale
    return float(w[0] - raw @ mean), raw


def fit(data: Labelled, names: Sequence[str], *, l2: float = DEFAULT_L2, cohort: bool = True,
        source: str = "") -> TriageConfig:
    """Both stages on ``data``; evidence not in ``names`` gets no weight."""
    names = list(names)
    X = matrix(data.values, names)
    y = np.array(data.failed, dtype=float)
    offset, pooled = stratum_offsets(data)
    bias, w = logistic(X, y, l2, offset)
    bias += pooled  # scored without strata: the pooled base rate stands in for the domain's
    stage1 = TriageConfig(bias=round(bias, 4), weights={n: round(float(v), 4) for n, v in zip(names, w, strict=True)},
                          source=source)
    if not cohort:
        return stage1
    prior = stage1.cohort_prior
    z = X @ w + bias
    task = _fit_stage(data.cohorts, "task", z, y, offset - pooled, prior)
    hidden = cohort_evidence([msgspec.structs.replace(member_of(r), task_key="") for r in data.reports])
    request = _fit_stage(hidden, "request", z, y, offset - pooled, prior)
    return msgspec.structs.replace(stage1, task_stage=task or request or CohortStage(),
                                   request_stage=request or task or CohortStage())


def _fit_stage(cohorts: Sequence[CohortEvidence], basis: str, z: np.ndarray, y: np.ndarray,
               offset: np.ndarray, prior: float) -> CohortStage | None:
    """The cohort stage on the rows whose peers are of ``basis``; None if there are too few."""
    rows = [i for i, c in enumerate(cohorts) if c.basis == basis]
    if len(rows) < 10 or len({y[i] for i in rows}) < 2:
        return None
    shrunk = np.array([_shrunk(cohorts[i], prior) for i in rows])
    cb, (scale, disagreement, outlying) = logistic(np.c_[z[rows], shrunk], y[rows], 1.0, offset[rows])
    return CohortStage(bias=round(cb, 4), scale=round(float(scale), 4), disagreement=round(float(disagreement), 4),
                       outlying=round(float(outlying), 4))


def stratum_offsets(data: Labelled) -> tuple[np.ndarray, float]:
    """Per row, the log-odds of failure in its domain (agent and configuration), and the pooled one.

    Fitting against these offsets makes the weights rank trajectories *within* a domain: without
    them, evidence that merely tells domains apart (retail runs are longer and fail less) would be
    rewarded for the difference in base rates, which says nothing about which run to review.
    """
    keys = [f"{r.agent_id}|{r.context_key}" for r in data.reports]
    rates: dict[str, list[int]] = {}
    for key, failed in zip(keys, data.failed, strict=True):
        counts = rates.setdefault(key, [0, 0])
        counts[0] += failed
        counts[1] += 1
    pooled = _logit((sum(data.failed) + 1) / (len(data.failed) + 2))
    offsets = {key: _logit((f + 1) / (n + 2)) for key, (f, n) in rates.items()}
    return np.array([offsets[k] for k in keys]), pooled


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _shrunk(cohort: CohortEvidence, prior: float) -> tuple[float, float]:
    d, o = cohort.disagreement, cohort.outlying
    if d is None or o is None:
        return 0.0, 0.0
    shrink = cohort.peers / (cohort.peers + prior)
    return d * shrink, o * shrink


def matrix(values: Sequence[dict[str, float]], names: Sequence[str]) -> np.ndarray:
    return np.array([[v.get(n, 0.0) for n in names] for v in values], dtype=float).reshape(len(values), len(names))


# -- scoring -------------------------------------------------------------------------------------
def trajectory_scores(data: Labelled, config: TriageConfig) -> list[float]:
    return [triage_score(_parts(v, config), config) for v in data.values]


def combined_scores(data: Labelled, config: TriageConfig) -> list[float]:
    """What `signals analyze` and `signals sample` give: the combined score from the trajectory score."""
    return [combined_from_trajectory_score(t, c, config)
            for t, c in zip(trajectory_scores(data, config), data.cohorts, strict=True)]


def _parts(values: dict[str, float], config: TriageConfig) -> dict[str, float]:
    return {n: config.weights.get(n, 0.0) * x for n, x in values.items() if config.weights.get(n, 0.0)}


def out_of_fold(data: Labelled, names: Sequence[str], *, folds: int = 5, seed: int = 0, l2: float = DEFAULT_L2,
                cohort: bool = True, select: bool = False) -> tuple[list[float], list[float]]:
    """Trajectory and combined scores of each row from a fit on the other folds only.

    With ``select`` the evidence is also chosen on the other folds only (``select_evidence``), so
    the figures include the cost of choosing."""
    fold = grouped_folds(data.groups, folds, seed)
    trajectory = [math.nan] * len(fold)
    combined = [math.nan] * len(fold)
    for k in sorted(set(fold)):
        train = [i for i, f in enumerate(fold) if f != k]
        test = [i for i, f in enumerate(fold) if f == k]
        training = data.subset(train)
        kept = select_evidence(training, names, l2=l2) if select else names
        config = fit(training, kept, l2=l2, cohort=cohort)
        held = data.subset(test)
        for i, t, c in zip(test, trajectory_scores(held, config), combined_scores(held, config), strict=True):
            trajectory[i], combined[i] = t, c
    return trajectory, combined


MIN_DOMAIN = 30  # trajectories a domain needs (with both outcomes) to count in selection


def domain_rows(data: Labelled) -> list[list[int]]:
    """Rows per domain (agent and configuration) big enough to judge by; else all rows as one."""
    keys: dict[str, list[int]] = {}
    for i, r in enumerate(data.reports):
        keys.setdefault(f"{r.agent_id}|{r.context_key}", []).append(i)
    usable = [rows for rows in keys.values()
              if len(rows) >= MIN_DOMAIN and 0 < sum(data.failed[i] for i in rows) < len(rows)]
    return usable or [list(range(len(data.failed)))]


CONSISTENCY_MARGIN = 0.02  # an evidence's AUC alone must sit this far from 0.5, on one side, in every domain


def select_evidence(data: Labelled, names: Sequence[str], *, l2: float = DEFAULT_L2) -> list[str]:
    """Evidence that points the same way in every domain, with weights that keep that direction.

    A piece of evidence is kept only if its AUC alone is above 0.5 + margin in every domain (or
    below 0.5 - margin in every one): length, for instance, goes with failure in retail and with
    success in airline, so no single weight for it generalises to a domain not seen. The kept
    evidence is fitted together; any whose fitted weight contradicts its direction (collinearity)
    is dropped and the rest refitted.
    """
    domains = domain_rows(data)
    direction: dict[str, float] = {}
    for name in names:
        aucs = [auc([data.values[i].get(name, 0.0) for i in rows], [data.failed[i] for i in rows]) for rows in domains]
        if all(a > 0.5 + CONSISTENCY_MARGIN for a in aucs):
            direction[name] = 1.0
        elif all(a < 0.5 - CONSISTENCY_MARGIN for a in aucs):
            direction[name] = -1.0
    kept = [n for n in names if n in direction]
    while kept:
        config = fit(data, kept, l2=l2, cohort=False)
        wrong = [n for n in kept if config.weights[n] * direction[n] < 0]
        if not wrong:
            break
        kept = [n for n in kept if n not in wrong]
    return kept


def evidence_names(data: Labelled) -> list[str]:
    names: dict[str, None] = {}
    for values in data.values:
        names.update(dict.fromkeys(values))
    return sorted(names)


# -- intervals -----------------------------------------------------------------------------------
def bootstrap(statistic: Callable[[list[int]], float], n: int, *, rounds: int = 1000, seed: int = 0,
              groups: Sequence[str] | None = None) -> tuple[float, float]:
    """95% percentile interval of ``statistic(rows)`` over resamples (of whole groups when given)."""
    rng = random.Random(seed)
    if groups is not None:
        members: dict[str, list[int]] = {}
        for i, g in enumerate(groups):
            members.setdefault(g, []).append(i)
        units = list(members.values())
    else:
        units = [[i] for i in range(n)]
    values = []
    for _ in range(rounds):
        rows = [i for _ in units for i in units[rng.randrange(len(units))]]
        value = statistic(rows)
        if not math.isnan(value):
            values.append(value)
    if not values:
        return math.nan, math.nan
    values.sort()
    return values[int(0.025 * (len(values) - 1))], values[int(0.975 * (len(values) - 1))]


def auc_interval(scores: Sequence[float], failed: Sequence[bool], groups: Sequence[str], rounds: int,
                 seed: int = 0) -> tuple[float, float]:
    return bootstrap(lambda rows: auc([scores[i] for i in rows], [failed[i] for i in rows]), len(scores),
                     rounds=rounds, seed=seed, groups=groups)


__all__ = [
    "DEFAULT_L2",
    "Labelled",
    "auc_interval",
    "bootstrap",
    "combined_scores",
    "domain_rows",
    "evidence_names",
    "fit",
    "grouped_folds",
    "logistic",
    "out_of_fold",
    "packaged_config",
    "select_evidence",
    "sigmoid",
    "trajectory_scores",
]
