"""Triage score: how worth a reviewer's time a trajectory is (0-1), with the reasons.

Two parts, each a logistic over named, readable pieces of evidence:

- the **trajectory score** needs one trajectory only, so the streaming engine computes it
  incrementally and the record stores it (``triage_score`` in the worker's record): signal
  categories (sqrt of their counts), tool errors, successful and failed state-changing calls,
  retries after a failed one, length, hand-offs to a human;
- the **cohort part** needs the fleet (``detectors/cohort.py``): the share of a trajectory's peers
  (runs of the same task or request) that ended with different state-changing actions, and how much
  less it agrees than its cohort's average member, shrunk when peers are few. The combined score
  is ``sigmoid(stage.bias + stage.scale * z + (stage.disagreement * disagreement + stage.outlying
  * outlying) * peers / (peers + cohort_prior))``, one stage for task peers and one for request
  peers (looser cohorts earn less trust), with ``z`` the logit of the
  trajectory score (so the sampling SQL computes it from the stored score alone), and it is the
  trajectory score itself when there are no peers.

Weights are configuration (``TriageConfig``), fitted by ``signals calibrate`` with grouped
cross-validation; the packaged default (``triage.toml`` beside this file) is that command's output on
the τ-bench dev files. No outcome label is ever read here.
"""

from __future__ import annotations

import math
import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Final

import msgspec

from detectors.cohort import CohortEvidence
from detectors.features import Features
from detectors.quality import category_counts

ESCALATION: Final = "interaction.disengagement.escalation"


class CohortStage(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How much one kind of cohort (task peers, or request peers) moves the trajectory logit."""

    bias: float = 0.0
    scale: float = 1.0  # on the trajectory logit
    disagreement: float = 0.0  # per unit of disagreement (share of peers that ended differently)
    outlying: float = 0.0  # per unit of `outlying` (agreeing less than the cohort's average member)


class TriageConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    bias: float = -1.0
    weights: dict[str, float] = {}  # evidence name -> weight per unit of its value (see evidence_values)
    cohort_prior: float = 1.0  # peers / (peers + prior): one peer counts half
    task_stage: CohortStage = CohortStage()  # peers by task key
    request_stage: CohortStage = CohortStage()  # peers by request key (no task key): looser cohorts
    source: str = ""  # how this configuration was made


def load_config(path: str | Path) -> TriageConfig:
    """A triage configuration from a TOML file (what `signals calibrate --out` writes)."""
    try:
        data = tomllib.loads(Path(path).read_text("utf-8"))
        return msgspec.convert(data, TriageConfig)
    except OSError as error:
        raise ValueError(f"cannot read triage config {path}: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, msgspec.ValidationError) as error:
        raise ValueError(f"triage config {path} is not valid: {error}") from None


def dump_config(config: TriageConfig) -> str:
    lines = [f"# {line}" for line in config.source.splitlines()] if config.source else []
    lines += [f"source = {_quote(config.source)}"] if config.source else []
    lines += [f"bias = {config.bias!r}", f"cohort_prior = {config.cohort_prior!r}", "", "[weights]"]
    lines += [f"{_quote(name)} = {weight!r}" for name, weight in sorted(config.weights.items())]
    for name in ("task_stage", "request_stage"):
        stage = getattr(config, name)
        lines += ["", f"[{name}]"] + [f"{field} = {getattr(stage, field)!r}" for field in stage.__struct_fields__]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@cache
def packaged_config() -> TriageConfig:
    text = resources.files("detectors").joinpath("triage.toml").read_text("utf-8")
    return msgspec.convert(tomllib.loads(text), TriageConfig)


def activity(features: Features) -> int:
    """Messages and tool events: what a reviewer reads (end and feedback markers do not count)."""
    return features.user_turns + features.assistant_turns + features.tool_calls + features.tool_results


def evidence_values(counts: dict[str, int], features: Features) -> dict[str, float]:
    """Every piece of per-trajectory evidence by name, on the scale its weight applies to."""
    if features.handoffs:  # an escalation the agent honoured is routed already, not a lead
        counts = {t: n for t, n in counts.items() if t != ESCALATION}
    values = {category: math.sqrt(n) for category, n in category_counts(counts).items() if n}
    values["tool_errors"] = math.sqrt(features.tool_errors)
    values["state_changes"] = float(min(features.state_changes, 3))
    values["failed_state_changes"] = math.sqrt(features.failed_state_changes)
    values["retried_state_changes"] = math.sqrt(features.retried_state_changes)
    values["length"] = math.log2(1 + activity(features))
    values["user_turns"] = math.log2(1 + features.user_turns)
    values["handoff"] = float(features.handoffs > 0)
    return values


def evidence(counts: dict[str, int], features: Features, config: TriageConfig | None = None) -> dict[str, float]:
    """Each piece of evidence's contribution to the trajectory logit (zero contributions left out)."""
    weights = (config or packaged_config()).weights
    parts = {}
    for name, value in evidence_values(counts, features).items():
        contribution = weights.get(name, 0.0) * value
        if contribution:
            parts[name] = contribution
    return parts


def trajectory_logit(parts: dict[str, float], config: TriageConfig | None = None) -> float:
    return (config or packaged_config()).bias + sum(parts.values())


def triage_score(parts: dict[str, float], config: TriageConfig | None = None) -> float:
    return sigmoid(trajectory_logit(parts, config))


def stage_of(cohort: CohortEvidence, config: TriageConfig) -> CohortStage:
    return config.task_stage if cohort.basis == "task" else config.request_stage


def cohort_contribution(cohort: CohortEvidence, config: TriageConfig | None = None) -> float | None:
    """The cohort's term of the combined logit; None without peers."""
    config = config or packaged_config()
    disagreement, outlying = cohort.disagreement, cohort.outlying
    if disagreement is None or outlying is None:
        return None
    stage = stage_of(cohort, config)
    shrink = cohort.peers / (cohort.peers + config.cohort_prior)
    return (stage.disagreement * disagreement + stage.outlying * outlying) * shrink


def sigmoid(logit: float) -> float:
    return round(1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit)))), 4)


def combined_from_trajectory_score(trajectory_score: float, cohort: CohortEvidence,
                                   config: TriageConfig | None = None) -> float:
    """The combined score from a stored trajectory score (its logit), as the sampling SQL computes it."""
    config = config or packaged_config()
    term = cohort_contribution(cohort, config)
    if term is None:
        return trajectory_score
    stage = stage_of(cohort, config)
    p = min(max(trajectory_score, 1e-6), 1 - 1e-6)
    return sigmoid(stage.bias + stage.scale * math.log(p / (1 - p)) + term)


def cohort_reason(cohort: CohortEvidence, config: TriageConfig | None = None) -> str:
    term = cohort_contribution(cohort, config)
    if term is None:
        return "cohort: no peers (trajectory evidence only)"
    return (f"cohort {term:+.2f}: {cohort.peers - cohort.agreeing} of {cohort.peers} peers "
            f"(same {cohort.basis}) ended with other actions")
