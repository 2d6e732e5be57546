"""Quality grade/score and triage score: behaviour, and the reference's scoring flaws fixed."""

from __future__ import annotations

import math

import pytest

from detectors.features import Features
from detectors.quality import grade, quality_score
from detectors.session import analyze
from detectors.triage import (
    CohortStage,
    TriageConfig,
    dump_config,
    evidence,
    evidence_values,
    load_config,
    triage_score,
)
from tests.builders import A, C, R, U, conv


def test_clean_conversation_is_neutral() -> None:
    report = analyze("t", conv("t", U("Why is the sky blue?"), A("Rayleigh scattering.")))
    assert report.quality == "neutral" and report.signals == []


def test_flaw16_excellent_is_reachable_for_a_satisfied_user() -> None:
    report = analyze("t", conv("t", U("Move my meeting to 3pm"), A("Done."), U("That works, thank you so much!"),
                               A("Anything else?"), U("Perfect, it worked. Thanks!")))
    assert report.quality == "excellent", report
    assert quality_score({"interaction.satisfaction.gratitude": 3}) >= 75


def test_flaw15_one_quit_does_not_force_severe_zero() -> None:
    counts = {"interaction.disengagement.quit": 1, "interaction.satisfaction.success": 1,
              "interaction.satisfaction.gratitude": 1}
    score = quality_score(counts)
    assert score > 25 and grade(score) != "severe"


def test_problems_lower_quality_monotonically() -> None:
    scores = [quality_score({"execution.failure.invalid_args": n}) for n in range(6)]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
    assert grade(quality_score({"interaction.disengagement.quit": 1, "interaction.disengagement.escalation": 1,
                                "interaction.disengagement.negative_stance": 3})) == "severe"


def test_triage_is_the_logistic_of_the_weighted_evidence() -> None:
    config = TriageConfig(bias=-1.0, weights={"execution.failure": 0.5, "state_changes": 0.8, "length": 0.0})
    quiet = triage_score(evidence({}, Features(events=6), config), config)
    failing = triage_score(evidence({"execution.failure.state_error": 4}, Features(events=6), config), config)
    acting = triage_score(evidence({}, Features(events=6, state_changes=2), config), config)
    assert quiet == round(1 / (1 + math.exp(1.0)), 4)
    assert failing == round(1 / (1 + math.exp(-(-1.0 + 0.5 * 2))), 4)  # sqrt(4) failures
    assert acting == round(1 / (1 + math.exp(-(-1.0 + 0.8 * 2))), 4)


def test_honoured_escalation_is_not_disengagement_evidence() -> None:
    counts = {"interaction.disengagement.escalation": 1}
    assert evidence_values(counts, Features(events=20))["interaction.disengagement"] == 1.0
    assert "interaction.disengagement" not in evidence_values(counts, Features(events=20, handoffs=1))
    assert evidence_values(counts, Features(events=20, handoffs=1))["handoff"] == 1.0


def test_config_round_trips_through_toml(tmp_path) -> None:
    config = TriageConfig(bias=-0.5, weights={"tool_errors": 0.25, "execution.failure": 0.1},
                          task_stage=CohortStage(bias=-2.0, scale=0.8, disagreement=3.0, outlying=1.0),
                          request_stage=CohortStage(bias=-1.0, scale=0.9, disagreement=1.5, outlying=0.5),
                          source='signals calibrate "a b.json"\n4 trajectories')
    path = tmp_path / "triage.toml"
    path.write_text(dump_config(config))
    assert load_config(path) == config


def test_a_bad_config_says_what_is_wrong(tmp_path) -> None:
    path = tmp_path / "triage.toml"
    path.write_text("bias = 'high'\n")
    with pytest.raises(ValueError, match="not valid"):
        load_config(path)
    with pytest.raises(ValueError, match="cannot read"):
        load_config(tmp_path / "missing.toml")


def test_report_explains_its_triage_score() -> None:
    events = conv("t", U("Book it"), C("book_reservation", {"id": 1}, call_id="a"), R("Error: seat taken", call_id="a"),
                  C("book_reservation", {"id": 2}, call_id="b"), R('{"ok": true}', call_id="b"))
    report = analyze("t", events)
    assert report.features["state_changes"] == 1 and report.features["failed_state_changes"] == 1
    assert any(reason.startswith("state_changes") for reason in report.reasons)
    assert any(reason.startswith("retried_state_changes") for reason in report.reasons)


def test_an_explicit_session_end_does_not_change_the_verdict() -> None:
    from tests.builders import End

    turns = [spec for i in range(6) for spec in (U(f"step {i} please"), A("ok"))]
    without = analyze("t", conv("t", *turns))
    with_end = analyze("t", conv("t", *turns, End()))
    assert (with_end.triage_score, with_end.quality_score) == (without.triage_score, without.quality_score)


# ---- triage by value (issue 17: mutation survivors)
def test_triage_config_defaults_by_value() -> None:
    from detectors.triage import CohortStage, TriageConfig

    neutral = CohortStage(bias=0.0, scale=1.0, disagreement=0.0, outlying=0.0)
    assert CohortStage() == neutral
    assert TriageConfig() == TriageConfig(bias=-1.0, weights={}, cohort_prior=1.0, task_stage=neutral,
                                          request_stage=neutral, source="")


def test_evidence_values_by_value() -> None:
    import msgspec

    from detectors.triage import evidence_values

    features = Features(user_turns=3, assistant_turns=2, tool_calls=4, tool_results=1, failed_state_changes=4,
                        state_changes=5, handoffs=0, tool_errors=9, retried_state_changes=1)
    counts = {"execution.failure.bad_query": 4, "interaction.disengagement.escalation": 1}
    assert evidence_values(counts, features) == {
        "execution.failure": 2.0, "interaction.disengagement": 1.0, "tool_errors": 3.0, "state_changes": 3.0,
        "failed_state_changes": 2.0, "retried_state_changes": 1.0, "length": math.log2(11), "user_turns": 2.0,
        "handoff": 0.0}
    handed_off = evidence_values(counts, msgspec.structs.replace(features, handoffs=1, state_changes=2))
    assert "interaction.disengagement" not in handed_off  # the honoured escalation is dropped
    assert (handed_off["handoff"], handed_off["state_changes"]) == (1.0, 2.0)


def test_cohort_contribution_uses_the_stage_of_its_basis() -> None:
    import msgspec

    from detectors.cohort import CohortEvidence
    from detectors.triage import CohortStage, TriageConfig, cohort_contribution

    config = TriageConfig(cohort_prior=1.0, task_stage=CohortStage(disagreement=2.0, outlying=1.0),
                          request_stage=CohortStage(disagreement=0.5, outlying=3.0))
    task = CohortEvidence(basis="task", peers=3, agreeing=1, pairs_agreeing=8)  # disagreement 2/3, outlying 1/3
    assert cohort_contribution(task, config) == pytest.approx((2.0 * 2 / 3 + 1.0 / 3) * 0.75)
    request = msgspec.structs.replace(task, basis="request")
    assert cohort_contribution(request, config) == pytest.approx((0.5 * 2 / 3 + 3.0 / 3) * 0.75)
    assert cohort_contribution(CohortEvidence(), config) is None


def test_load_config_names_the_os_error() -> None:
    from detectors.triage import load_config

    with pytest.raises(ValueError, match=r"^cannot read triage config /nonexistent/x\.toml: No such file or directory$"):
        load_config("/nonexistent/x.toml")


def test_combined_score_and_cohort_reason_by_value() -> None:
    from detectors.cohort import CohortEvidence
    from detectors.triage import CohortStage, TriageConfig, cohort_reason, combined_from_trajectory_score

    config = TriageConfig(cohort_prior=1.0,
                          task_stage=CohortStage(bias=0.5, scale=2.0, disagreement=2.0, outlying=1.0))
    cohort = CohortEvidence(basis="task", peers=3, agreeing=1, pairs_agreeing=8)  # term (2*2/3 + 1/3) * 3/4
    expected = round(1 / (1 + math.exp(-(0.5 + 2.0 * math.log(0.3 / 0.7) + 1.25))), 4)
    assert combined_from_trajectory_score(0.3, cohort, config) == expected == 0.5138
    assert combined_from_trajectory_score(0.3, CohortEvidence(), config) == 0.3
    assert cohort_reason(cohort, config) == "cohort +1.25: 2 of 3 peers (same task) ended with other actions"
    assert cohort_reason(CohortEvidence(), config) == "cohort: no peers (trajectory evidence only)"


def test_combined_score_clamps_the_stored_score_away_from_0_and_1() -> None:
    from detectors.cohort import CohortEvidence
    from detectors.triage import CohortStage, TriageConfig, combined_from_trajectory_score

    halved = TriageConfig(task_stage=CohortStage(scale=0.5))  # logit of 1 - 1e-6 is 13.8: halved, 6.9
    cohort = CohortEvidence(basis="task", peers=3, agreeing=1, pairs_agreeing=8)
    assert combined_from_trajectory_score(1.0, cohort, halved) == 0.999
    assert combined_from_trajectory_score(0.0, cohort, halved) == 0.001
