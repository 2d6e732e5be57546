"""Quality and triage together: what a report says about a trajectory, with its reasons."""

from __future__ import annotations

import msgspec

from detectors.features import Features
from detectors.model import Quality
from detectors.quality import grade, quality_score
from detectors.triage import TriageConfig, evidence, triage_score


class Verdict(msgspec.Struct, frozen=True):
    quality: Quality
    quality_score: float
    triage_score: float
    features: dict[str, float]
    reasons: list[str]


def assess(counts: dict[str, int], features: Features, triage: TriageConfig | None = None) -> Verdict:
    score = quality_score(counts)
    parts = evidence(counts, features, triage)
    flat = {
        "state_changes": float(features.state_changes),
        "failed_state_changes": float(features.failed_state_changes),
        "handoffs": float(features.handoffs),
        "distinct_tools": float(len(features.distinct_tools)),
    }
    return Verdict(grade(score), score, triage_score(parts, triage), flat, reasons_for(parts))


def reasons_for(parts: dict[str, float]) -> list[str]:
    return [f"{name} {value:+.2f}" for name, value in sorted(parts.items(), key=lambda kv: (-abs(kv[1]), kv[0]))]
