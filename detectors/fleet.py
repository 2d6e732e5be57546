"""Scoring a set of trajectories together: each report's triage becomes the combined score.

``signals analyze`` (and anything else that holds many reports) calls ``with_cohorts`` after the
per-trajectory analysis: the record's own score moves to ``trajectory_score``, ``triage_score``
becomes the combined score (detectors/triage.py), and the reasons say what the cohort added.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from detectors.cohort import cohort_evidence, member_of
from detectors.model import TrajectoryReport
from detectors.triage import TriageConfig, cohort_reason, combined_from_trajectory_score


def with_cohorts(reports: Sequence[TrajectoryReport], config: TriageConfig | None = None) -> list[TrajectoryReport]:
    out = []
    for report, cohort in zip(reports, cohort_evidence([member_of(r) for r in reports]), strict=True):
        out.append(msgspec.structs.replace(
            report,
            triage_score=combined_from_trajectory_score(report.triage_score, cohort, config),
            trajectory_score=report.triage_score,
            cohort_basis=cohort.basis, cohort_peers=cohort.peers, cohort_agreeing=cohort.agreeing,
            reasons=[cohort_reason(cohort, config), *report.reasons]))
    return out
