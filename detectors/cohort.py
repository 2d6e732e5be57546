"""Cohort evidence: does a trajectory's outcome agree with its peers' (runs of the same request)?

The strongest label-free evidence on τ-bench is not inside one trajectory but across runs of the same
task: a run whose final state-changing actions (tool and arguments, order aside) differ from what its
peers did is far more often a failure. Peers are found by

1. the producer's task key (an event attribute ``task``, ``task_id`` or ``intent``; τ-bench's task id)
   when at least one other trajectory shares it, else
2. the request key: the first identifier the user typed (account handle, order or booking id), which
   runs of the same request share while their wording differs;

always within one agent and one agent configuration (system-prompt fingerprint). Without peers
there is no cohort evidence, and the result says so (``basis`` is ``""``).

This module is the definition for files (``signals analyze``/``evaluate``/``calibrate``);
``sinks/cohort_sql.py`` computes the same over the stored trajectories in ClickHouse, and a test
holds the two equal. It never runs inside the per-event engine: a cohort changes when other
trajectories arrive, so the streaming record keeps its per-trajectory score.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from typing import Final

import msgspec

from detectors.features import Features
from detectors.model import TrajectoryReport

SCOPE_FIELDS: Final = ("agent_id", "context_key")


class CohortMember(msgspec.Struct, frozen=True, kw_only=True):
    """What cohort evidence reads of one trajectory (all of it stored in its ClickHouse row)."""

    agent_id: str = ""
    context_key: str = ""
    task_key: str = ""
    request_key: str = ""
    action_sig: str = ""  # "" when the trajectory changed nothing


class CohortEvidence(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    basis: str = ""  # "task", "request", or "" when the trajectory has no peers
    peers: int = 0  # other trajectories in its cohort
    agreeing: int = 0  # ... whose final state-changing actions equal its own
    pairs_agreeing: int = 0  # ordered pairs of cohort members that agree: sum over members of theirs

    @property
    def disagreement(self) -> float | None:
        """Share of peers that ended differently; None without peers."""
        return 1.0 - self.agreeing / self.peers if self.peers else None

    @property
    def outlying(self) -> float | None:
        """How much less than its cohort's average member this trajectory agrees with the others.

        A cohort that mixes requests (a user's several tasks under one account key) disagrees with
        itself everywhere; there only the members that agree less than the rest stand out."""
        if not self.peers:
            return None
        size = self.peers + 1
        average = self.pairs_agreeing / (size * self.peers)
        return average - self.agreeing / self.peers


NO_PEERS: Final = CohortEvidence()


def action_signature(actions: Sequence[str]) -> str:
    """One hash of the set of successful state-changing actions ("" for none)."""
    if not actions:
        return ""
    return hashlib.blake2b("\n".join(sorted(actions)).encode(), digest_size=8).hexdigest()


def member(features: Features, agent_id: str = "") -> CohortMember:
    return CohortMember(agent_id=agent_id, context_key=features.context_key, task_key=features.task_key,
                        request_key=features.request_key, action_sig=action_signature(features.actions))


def member_of(report: TrajectoryReport) -> CohortMember:
    return CohortMember(agent_id=report.agent_id, context_key=report.context_key, task_key=report.task_key,
                        request_key=report.request_key, action_sig=report.action_sig)


def cohort_evidence(members: Sequence[CohortMember]) -> list[CohortEvidence]:
    """Evidence for each member against the others (order-independent, deterministic)."""
    by_task = _groups(members, "task_key")
    by_request = _groups(members, "request_key")
    out: list[CohortEvidence] = []
    for m in members:
        basis, groups, key = "task", by_task, m.task_key
        if not key or groups[_key(m, "task_key")].total() < 2:
            basis, groups, key = "request", by_request, m.request_key
        group = groups.get(_key(m, basis + "_key")) if key else None
        if group is None or group.total() < 2:
            out.append(NO_PEERS)
            continue
        pairs = sum(n * (n - 1) for n in group.values())
        out.append(CohortEvidence(basis=basis, peers=group.total() - 1, agreeing=group[m.action_sig] - 1,
                                  pairs_agreeing=pairs))
    return out


def _key(m: CohortMember, field: str) -> tuple[str, ...]:
    return (*(getattr(m, name) for name in SCOPE_FIELDS), getattr(m, field))


def _groups(members: Sequence[CohortMember], field: str) -> dict[tuple[str, ...], Counter[str]]:
    """Per cohort key: how many members ended with each action signature."""
    groups: dict[tuple[str, ...], Counter[str]] = {}
    for m in members:
        if getattr(m, field):
            groups.setdefault(_key(m, field), Counter())[m.action_sig] += 1
    return groups
