"""Ranking metrics for triage against outcome labels (pure; used by `signals evaluate`)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from detectors.model import TrajectoryReport


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Probability that a random positive outranks a random negative (ties count half)."""
    ranked = sorted(zip(scores, labels, strict=True), key=lambda pair: pair[0])
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    rank_sum, position = 0.0, 0
    while position < len(ranked):
        end = position
        while end < len(ranked) and ranked[end][0] == ranked[position][0]:
            end += 1
        mid_rank = (position + 1 + end) / 2  # average 1-based rank of the tie group
        rank_sum += mid_rank * sum(1 for _, label in ranked[position:end] if label)
        position = end
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def precision_at_k(scores: Sequence[float], labels: Sequence[bool], k: int, ids: Sequence[str]) -> float:
    """Share of positives among the top k (ties broken by a hash of the id, deterministically)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], stable_hash(ids[i])))
    top = order[:k]
    return sum(labels[i] for i in top) / max(len(top), 1)


def stable_hash(text: str, seed: int = 0) -> int:
    digest = hashlib.blake2b(f"{seed}:{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


Scorer = Callable[[TrajectoryReport], float]

BASELINES: dict[str, Scorer] = {
    "length (events)": lambda r: float(r.events),
    "tool errors": lambda r: float(r.tool_errors),
    "signal count": lambda r: float(sum(r.counts.values())),
    "low quality score": lambda r: -r.quality_score,
}


def random_scorer(seed: int) -> Scorer:
    """Deterministic random order: a seeded hash of the trajectory id."""
    return lambda report: stable_hash(report.id, seed) / 2**64
