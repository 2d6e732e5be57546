"""Quality grade, 0-100 quality score and 0-1 triage score from signal counts and features.

Initial weights; tuned in a later step against labelled data (see `signals evaluate`).
"""

from __future__ import annotations

import math
from typing import Final

import msgspec

from detectors.features import Features
from detectors.model import Quality, category_of


class Verdict(msgspec.Struct, frozen=True):
    quality: Quality
    quality_score: float
    triage_score: float
    features: dict[str, float]
    reasons: list[str]


# Points per category: first instance costs the full weight, later ones less (sqrt growth).
CATEGORY_POINTS: Final[dict[str, float]] = {
    "interaction.misalignment": -10.0,
    "interaction.stagnation": -8.0,
    "interaction.disengagement": -18.0,
    "interaction.satisfaction": 14.0,
    "execution.failure": -9.0,
    "execution.loops": -7.0,
    "environment.exhaustion": -5.0,
}
GRADES: Final[tuple[tuple[float, Quality], ...]] = ((75, "excellent"), (60, "good"), (40, "neutral"), (25, "poor"))
BASE_SCORE: Final = 60.0


def category_counts(counts: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for signal_type, n in counts.items():
        category = category_of(signal_type)
        out[category] = out.get(category, 0) + n
    return out


def grade(score: float) -> Quality:
    for floor, name in GRADES:
        if score >= floor:
            return name
    return "severe"


def assess(counts: dict[str, int], features: Features) -> Verdict:
    by_category = category_counts(counts)
    score = BASE_SCORE
    reasons: list[str] = []
    for category, n in sorted(by_category.items()):
        points = CATEGORY_POINTS.get(category, 0.0) * math.sqrt(n)
        score += points
        reasons.append(f"{category} x{n}")
    score = max(0.0, min(100.0, score))
    problems = sum(n for c, n in by_category.items() if c != "interaction.satisfaction")
    triage = 1.0 - math.exp(-0.5 * problems)
    flat = {"events": float(features.events), "tool_errors": float(features.tool_errors)}
    return Verdict(grade(score), round(score, 2), round(triage, 4), flat, reasons)
