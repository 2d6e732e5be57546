"""Triage score: how worth a reviewer's time a trajectory is (0-1), with the reasons.

A logistic over a few saturating pieces of evidence, each readable on its own:
- friction the signals saw (failures, loops, exhaustion, misalignment, stagnation, disengagement);
- consequential actions: successful state-changing tool calls (bookings, payments, deletions) are
  where a wrong move costs most, and failed ones followed by retries are where agents improvise;
- effort: long trajectories have more room for a mistake;
- hand-offs: a trajectory the agent already handed to a human is routed for review by the product
  (and an escalation request it honoured is no longer a lead).
Weights are configuration (TriageConfig); no outcome label is read.
"""

from __future__ import annotations

import math
from typing import Final

import msgspec

from detectors.features import Features
from detectors.quality import category_counts

ESCALATION: Final = "interaction.disengagement.escalation"


class TriageConfig(msgspec.Struct, frozen=True, kw_only=True):
    bias: float = -2.0
    category_weights: dict[str, float] = msgspec.field(default_factory=lambda: {
        "execution.failure": 0.5,
        "execution.loops": 0.5,
        "environment.exhaustion": 0.4,
        "interaction.misalignment": 0.5,
        "interaction.stagnation": 0.3,
        "interaction.disengagement": 0.5,
        "interaction.satisfaction": 0.0,
    })
    state_change_weight: float = 0.8
    state_change_cap: int = 3
    failed_state_change_weight: float = 0.0
    retried_state_change_weight: float = 0.5
    length_weight: float = 0.4  # per log2(events / 8)
    handoff_weight: float = -1.2


DEFAULT_TRIAGE: Final = TriageConfig()


def activity(features: Features) -> int:
    """Messages and tool events: what a reviewer reads (end and feedback markers do not count)."""
    return features.user_turns + features.assistant_turns + features.tool_calls + features.tool_results


def evidence(counts: dict[str, int], features: Features, config: TriageConfig = DEFAULT_TRIAGE) -> dict[str, float]:
    """Each piece of evidence and its contribution to the logit."""
    parts: dict[str, float] = {}
    if features.handoffs:  # an escalation the agent honoured is routed already, not a lead
        counts = {t: n for t, n in counts.items() if t != ESCALATION}
    for category, n in category_counts(counts).items():
        weight = config.category_weights.get(category, 0.0)
        if weight:
            parts[category] = weight * math.sqrt(n)
    if features.state_changes:
        parts["state_changes"] = config.state_change_weight * min(features.state_changes, config.state_change_cap)
    if features.failed_state_changes and config.failed_state_change_weight:
        parts["failed_state_changes"] = config.failed_state_change_weight * math.sqrt(features.failed_state_changes)
    if features.retried_state_changes:
        parts["retried_state_changes"] = config.retried_state_change_weight * math.sqrt(features.retried_state_changes)
    turns = activity(features)
    if turns > 8:
        parts["length"] = config.length_weight * math.log2(turns / 8)
    if features.handoffs:
        parts["handoff"] = config.handoff_weight
    return parts


def triage_score(parts: dict[str, float], config: TriageConfig = DEFAULT_TRIAGE) -> float:
    logit = config.bias + sum(parts.values())
    return round(1.0 / (1.0 + math.exp(-logit)), 4)
