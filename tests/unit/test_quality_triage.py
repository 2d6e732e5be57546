"""Quality grade/score and triage score: behaviour, and the reference's scoring flaws fixed."""

from __future__ import annotations

from detectors.features import Features
from detectors.quality import grade, quality_score
from detectors.session import analyze
from detectors.triage import evidence, triage_score
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


def test_triage_rises_with_friction_and_consequential_actions() -> None:
    quiet = triage_score(evidence({}, Features(events=6)))
    failing = triage_score(evidence({"execution.failure.state_error": 2, "execution.loops.retry": 1}, Features(events=6)))
    acting = triage_score(evidence({}, Features(events=6, state_changes=2)))
    assert 0.0 < quiet < failing < 1.0
    assert quiet < acting


def test_handoff_lowers_triage_and_honoured_escalation_is_not_a_lead() -> None:
    counts = {"interaction.disengagement.escalation": 1}
    ignored = triage_score(evidence(counts, Features(events=20)))
    honoured = triage_score(evidence(counts, Features(events=20, handoffs=1)))
    assert honoured < ignored
    assert "interaction.disengagement" not in evidence(counts, Features(events=20, handoffs=1))


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
