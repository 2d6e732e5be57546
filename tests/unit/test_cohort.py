"""Cohort evidence: peers by task key, else by request key, within one agent configuration."""

from __future__ import annotations

import json
from pathlib import Path

from detectors.adapters import read_trajectories
from detectors.cohort import NO_PEERS, CohortEvidence, CohortMember, action_signature, cohort_evidence
from detectors.features import MAX_ACTIONS, Features, action_hash, first_identifier
from detectors.fleet import with_cohorts
from detectors.session import analyze
from detectors.triage import combined_from_trajectory_score, packaged_config
from tests.builders import C, R, U, conv

FIXTURE = Path("tests/fixtures/tau_bench_cohorts.json")


def m(task: str = "", request: str = "", sig: str = "", context: str = "ctx", agent: str = "a") -> CohortMember:
    return CohortMember(agent_id=agent, context_key=context, task_key=task, request_key=request, action_sig=sig)


def test_peers_share_the_task_key_and_agreement_counts_equal_actions() -> None:
    members = [m("t1", sig="x"), m("t1", sig="x"), m("t1", sig="y"), m("t2", sig="x")]
    got = cohort_evidence(members)
    assert got[0] == CohortEvidence(basis="task", peers=2, agreeing=1, pairs_agreeing=2)
    assert got[2] == CohortEvidence(basis="task", peers=2, agreeing=0, pairs_agreeing=2)
    assert got[2].disagreement == 1.0 and got[0].disagreement == 0.5
    # the cohort's members agree with 1/3 of their peers on average: x-runs above it, the y-run below
    assert got[2].outlying == 1 / 3 and got[0].outlying == 1 / 3 - 1 / 2
    assert got[3] == NO_PEERS and got[3].disagreement is None


def test_without_task_peers_the_request_key_groups() -> None:
    # opaque task keys (every one unique) fall back to the first identifier the user typed
    members = [m("o1", "mia_li_3668", "x"), m("o2", "mia_li_3668", "x"), m("o3", "mia_li_3668", "z"), m("o4", "", "x")]
    got = cohort_evidence(members)
    assert [g.basis for g in got] == ["request", "request", "request", ""]
    assert got[2] == CohortEvidence(basis="request", peers=2, agreeing=0, pairs_agreeing=2)


def test_cohorts_never_cross_agents_or_configurations() -> None:
    members = [m("t1", sig="x"), m("t1", sig="x", context="other"), m("t1", sig="x", agent="b")]
    assert cohort_evidence(members) == [NO_PEERS] * 3


def test_cohort_evidence_does_not_depend_on_input_order() -> None:
    members = [m("t1", sig=s) for s in "xxyzx"] + [m("t2", "r", s) for s in "ab"]
    forward = cohort_evidence(members)
    backward = cohort_evidence(members[::-1])[::-1]
    assert forward == backward


def test_action_identity_ignores_key_and_list_order_and_case() -> None:
    one = action_hash("exchange", json.dumps({"ids": ["2", "1"], "order": "#W1"}))
    two = action_hash("exchange", json.dumps({"order": "#w1", "ids": ["1", "2"]}))
    assert one == two
    assert one != action_hash("exchange", json.dumps({"ids": ["1", "3"], "order": "#W1"}))
    assert one != action_hash("return", json.dumps({"ids": ["1", "2"], "order": "#W1"}))
    assert action_signature([]) == "" and action_signature(["b", "a"]) == action_signature(["a", "b"])


def test_only_successful_state_changes_are_actions_and_they_are_bounded() -> None:
    events = conv("t", U("cancel #W2378156 please"),
                  C("cancel_order", {"order_id": "#W1"}, call_id="a"), R("Error: not found", call_id="a"),
                  C("get_order", {"order_id": "#W1"}, call_id="b"), R('{"status": "pending"}', call_id="b"),
                  C("cancel_order", {"order_id": "#W2"}, call_id="c"), R('{"status": "cancelled"}', call_id="c"))
    report = analyze("t", events)
    expected = action_signature([action_hash("cancel_order", json.dumps({"order_id": "#W2"}))])
    assert report.action_sig == expected
    assert report.request_key == "w2378156"
    many = Features()
    from detectors.features import _add_action
    for i in range(MAX_ACTIONS + 10):
        _add_action(many, f"{i:04d}")
    assert len(many.actions) == MAX_ACTIONS and many.actions == sorted(many.actions)


def test_first_identifier_wants_a_digit_and_five_characters() -> None:
    assert first_identifier("Hi, I'm mia_li_3668, flying on the 20th") == "mia_li_3668"
    assert first_identifier("order #W2378156.") == "w2378156"
    assert first_identifier("no ids here, 20th of May") == ""


def test_tau_bench_runs_of_one_task_are_peers() -> None:
    reports = [analyze(t.id, t.events) for t in read_trajectories(str(FIXTURE))]
    tasks = {r.task_key for r in reports}
    assert len(tasks) == 8 and all(r.context_key for r in reports)
    scored = with_cohorts(reports)
    assert all(r.cohort_basis == "task" and r.cohort_peers >= 2 for r in scored)
    assert [r.trajectory_score for r in scored] == [r.triage_score for r in reports]
    lone = with_cohorts(reports[:1])[0]
    assert lone.cohort_basis == "" and lone.triage_score == reports[0].triage_score
    assert lone.reasons[0].startswith("cohort: no peers")


def test_more_disagreement_ranks_higher_at_the_same_trajectory_score() -> None:
    config = packaged_config()  # the fitted default: disagreeing with peers is a lead, more so for task peers
    assert config.task_stage.disagreement > 0 and config.request_stage.disagreement > 0
    for score in (0.05, 0.5, 0.95):
        ranked = [combined_from_trajectory_score(score, CohortEvidence(basis="task", peers=3, agreeing=k))
                  for k in (3, 2, 1, 0)]
        assert ranked == sorted(ranked) and ranked[0] < ranked[-1]


def test_in_a_cohort_that_disagrees_with_itself_the_odd_one_out_still_stands_out() -> None:
    # one account key over several requests: four pairs that agree within, one run alone
    members = [m(request="acct", sig=s) for s in ("a", "a", "b", "b", "c", "c", "d", "d", "e")]
    got = cohort_evidence(members)
    alone, paired = got[-1], got[0]
    assert alone.disagreement == 1.0 and paired.disagreement == 7 / 8
    assert alone.outlying > paired.outlying
    assert combined_from_trajectory_score(0.5, alone) > combined_from_trajectory_score(0.5, paired)
    # with one peer the same disagreement counts less than with three (shrunk towards no evidence)
    one = combined_from_trajectory_score(0.5, CohortEvidence(basis="task", peers=1, agreeing=0))
    three = combined_from_trajectory_score(0.5, CohortEvidence(basis="task", peers=3, agreeing=0))
    assert one < three


def test_identifier_scan_is_linear_and_bounded() -> None:
    # a megabyte without a digit once made a backtracking pattern quadratic (a hang on big arguments)
    assert first_identifier("y" * (1 << 20)) == ""
    assert first_identifier("y" * 10_000 + " order 12345") == ""  # beyond the scanned prefix
    assert first_identifier("see #W2378156, thanks") == "w2378156"


def _identifier_by_token_scan(text: str) -> str:
    """The definition, written plainly: the first token of the scanned prefix that, stripped of
    '.', '-', '#', '@', has 5+ characters and a digit."""
    import re

    from detectors.features import IDENTIFIER_SCAN

    for match in re.finditer(r"[#@\w.\-]+", text[:IDENTIFIER_SCAN], re.ASCII):
        token = match.group().strip(".-#@").lower()
        if len(token) >= 5 and any(ch.isdigit() for ch in token):
            return token[:64]
    return ""


def test_first_identifier_is_the_first_token_with_a_digit_and_five_characters() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    pieces = st.sampled_from(["a", "Z", "1", "9", "_", "#", "@", ".", "-", " ", ",", "é", "٣", "x7"])

    @given(st.lists(pieces, max_size=40).map("".join))
    def agrees(text: str) -> None:
        assert first_identifier(text) == _identifier_by_token_scan(text)

    agrees()
    for text in ("a" * 4095 + "12345", "-" * 4094 + "a1234", "1" * 5000, "ab12 " * 900 + "abc123"):
        assert first_identifier(text) == _identifier_by_token_scan(text)


# ---- by value at the edges (issue 17: mutation survivors)
def test_no_peers_is_all_zero_and_the_action_signature_is_a_fixed_hash() -> None:
    assert CohortEvidence(basis="", peers=0, agreeing=0, pairs_agreeing=0) == NO_PEERS
    assert NO_PEERS.disagreement is None and NO_PEERS.outlying is None
    assert action_signature(["b", "a"]) == action_signature(["a", "b"]) == "a76de9f2d561975f"  # blake2b-64
    assert action_signature([]) == ""


def test_member_copies_the_keys_and_signs_the_actions() -> None:
    from detectors.cohort import member

    features = Features(task_key="task", context_key="ctx", request_key="req", actions=["b", "a"])
    assert member(features, "bot") == CohortMember(agent_id="bot", context_key="ctx", task_key="task",
                                                   request_key="req", action_sig="a76de9f2d561975f")


def test_two_members_are_enough_for_a_cohort_on_either_basis() -> None:
    pair = [CohortMember(task_key="t", request_key="r1", action_sig="x"),
            CohortMember(task_key="t", request_key="r2", action_sig="y")]
    assert cohort_evidence(pair) == [CohortEvidence(basis="task", peers=1, agreeing=0, pairs_agreeing=0)] * 2
    by_request = [CohortMember(task_key="t1", request_key="r", action_sig="x"),
                  CohortMember(task_key="t2", request_key="r", action_sig="x")]
    assert cohort_evidence(by_request) == [CohortEvidence(basis="request", peers=1, agreeing=1,
                                                          pairs_agreeing=2)] * 2
    assert cohort_evidence(pair[:1]) == [NO_PEERS]
