"""Quality grade and 0-100 quality score from signal counts (the user's experience).

Unlike the reference analyzer there is no "critical path": one fuzzy quit or escalation hit does
not force a 0 whatever else happened; every category moves the score with diminishing returns,
satisfaction can lift a clean conversation to "excellent", and weights are configuration.
The triage score (how worth a reviewer's time) lives in detectors/triage.py.
"""

from __future__ import annotations

import math
from typing import Final

import msgspec

from detectors.model import Quality, category_of


class QualityConfig(msgspec.Struct, frozen=True, kw_only=True):
    base: float = 55.0  # no evidence either way: neutral
    satisfaction_max: float = 30.0  # approached as satisfaction instances accumulate
    satisfaction_rate: float = 0.7
    # Cost of the first instance of a type or category; n instances cost weight * sqrt(n).
    type_weights: dict[str, float] = msgspec.field(default_factory=lambda: {
        "interaction.disengagement.quit": 30.0,
        "interaction.disengagement.escalation": 25.0,
        "interaction.disengagement.negative_stance": 10.0,
    })
    category_weights: dict[str, float] = msgspec.field(default_factory=lambda: {
        "interaction.misalignment": 8.0,
        "interaction.stagnation": 6.0,
        "execution.failure": 8.0,
        "execution.loops": 8.0,
        "environment.exhaustion": 5.0,
    })
    grades: tuple[tuple[float, Quality], ...] = ((75, "excellent"), (60, "good"), (40, "neutral"), (25, "poor"))


DEFAULT_QUALITY: Final = QualityConfig()


def category_counts(counts: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for signal_type, n in counts.items():
        category = category_of(signal_type)
        out[category] = out.get(category, 0) + n
    return out


def grade(score: float, config: QualityConfig = DEFAULT_QUALITY) -> Quality:
    for floor, name in config.grades:
        if score >= floor:
            return name
    return "severe"


def penalties(counts: dict[str, int], config: QualityConfig = DEFAULT_QUALITY) -> dict[str, float]:
    """Points lost per type or category (types with their own weight are not counted twice)."""
    lost: dict[str, float] = {}
    for signal_type, n in counts.items():
        key = signal_type if signal_type in config.type_weights else category_of(signal_type)
        weight = config.type_weights.get(key) or config.category_weights.get(key, 0.0)
        if weight and n:
            lost[key] = lost.get(key, 0.0) + weight * math.sqrt(n)
    return lost


def quality_score(counts: dict[str, int], config: QualityConfig = DEFAULT_QUALITY) -> float:
    satisfied = category_counts(counts).get("interaction.satisfaction", 0)
    gained = config.satisfaction_max * (1.0 - math.exp(-config.satisfaction_rate * satisfied))
    score = config.base + gained - sum(penalties(counts, config).values())
    return round(max(0.0, min(100.0, score)), 2)
