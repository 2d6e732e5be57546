"""The reference analyzer's 25-conversation checklist, end to end through adapter + all detectors.

Where the reference is right we agree with it (types and indices); where its behaviour is a
documented flaw the expected row says what we do instead (see the comment on that row).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectors.adapters import read_trajectories
from detectors.session import analyze

CHECKLIST = Path(__file__).resolve().parents[1] / "fixtures" / "checklist.jsonl"
INT, E, X = "interaction.", "execution.", "environment.exhaustion."

EXPECTED: dict[str, list[tuple[str, int]]] = {
    "C01_clean": [],
    # + the complaints the reference missed ("not useful", "this is pointless")
    "C02_escalation_after_complaint": [(INT + "disengagement.negative_stance", 0), (INT + "disengagement.escalation", 2),
                                       (INT + "disengagement.negative_stance", 2)],
    "C03_gratitude": [(INT + "satisfaction.gratitude", 2)],
    "C04_confirmation": [(INT + "satisfaction.confirmation", 2)],
    "C05_success": [(INT + "satisfaction.success", 2)],
    "C06_correction": [(INT + "misalignment.correction", 2)],
    "C07_rephrase_marker": [(INT + "misalignment.rephrase", 2)],
    "C08_clarification": [(INT + "misalignment.clarification", 2)],
    "C09_semantic_rephrase_near_dup": [(INT + "misalignment.rephrase", 2), (INT + "stagnation.repetition", 2)],
    "C10_exact_repeat_user": [(INT + "misalignment.rephrase", 2), (INT + "stagnation.repetition", 2)],
    "C11_assistant_repeat": [(INT + "stagnation.repetition", 3)],
    # fires at the 10th user turn (event 18), where it became true, not at the last row
    "C12a_dragging_10_user_turns": [(INT + "stagnation.dragging", 18)],
    "C12b_no_dragging_9_user_turns": [],
    "C13_quit": [(INT + "disengagement.quit", 2)],
    "C14_punctuation": [(INT + "disengagement.negative_stance", 0)],
    # one angry message is one negative_stance (caps + punctuation as indicators), not two (flaw 17)
    "C15_all_caps_plus_escalation": [(INT + "disengagement.escalation", 0), (INT + "disengagement.negative_stance", 0)],
    "C16_positive_prefix_exempt": [(INT + "satisfaction.gratitude", 0)],
    # flaw 6: the complaint itself, not quit + profanity + confirmation
    "C17a_quirk_this_is_useless": [(INT + "disengagement.negative_stance", 0)],
    "C17b_quirk_what_do_you_think": [],  # flaw 7: not a clarification
    "C17c_gap_thank_you": [(INT + "satisfaction.gratitude", 0)],  # flaw 2
    "C17d_quirk_negation": [],  # flaw 9: "not great" is not a confirmation
    "C18_failures_mixed": [(E + "failure.invalid_args", 2), (E + "failure.tool_not_found", 4),
                           (E + "failure.auth_misuse", 6), (E + "failure.state_error", 8),
                           (E + "failure.bad_query", 10), (E + "failure.bad_query", 11)],
    # one signal per loop, on the call that confirmed it
    "C19_retry_loop": [(E + "loops.retry", 2)],
    "C20_parameter_drift": [(E + "loops.parameter_drift", 3)],
    "C21_retry_suppresses_drift": [(E + "loops.retry", 4)],
    "C22_oscillation": [(E + "loops.oscillation", 10)],
    # flaw 21: 504 is a timeout; flaw 22: "Invalid JSON" counted once (the tool rejected the input)
    "C23_exhaustion_all": [(X + "rate_limit", 0), (X + "api_error", 1), (X + "timeout", 2), (X + "network", 3),
                           (X + "malformed_response", 4), (X + "context_overflow", 5), (X + "timeout", 6),
                           (E + "failure.invalid_args", 7)],
    # flaw 24: indices are absolute event positions everywhere (repetition at 122, failure at 124)
    "C24_long_conversation_index_quirk": [(INT + "stagnation.dragging", 18), (INT + "misalignment.rephrase", 122),
                                          (INT + "stagnation.repetition", 122), (E + "failure.auth_misuse", 124),
                                          (INT + "misalignment.correction", 125)],
}


def reports() -> dict[str, object]:
    return {t.id: analyze(t.id, t.events) for t in read_trajectories(str(CHECKLIST))}


@pytest.fixture(scope="module")
def checklist() -> dict[str, object]:
    return reports()


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_checklist_case(case: str, checklist: dict) -> None:
    report = checklist[case]
    assert sorted((s.type, s.index) for s in report.signals) == sorted(EXPECTED[case])


def test_every_checklist_case_is_covered(checklist: dict) -> None:
    assert set(checklist) == set(EXPECTED)


C25_OPENAI = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "Book a hotel in Rome and check the weather"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "book_hotel", "arguments": '{"city":"Rome"}'}},
        {"id": "b", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]},
    {"role": "tool", "tool_call_id": "a", "content": "Error: missing required parameter 'dates'"},
    {"role": "tool", "tool_call_id": "b", "content": "22C, clear"},
    {"role": "assistant", "content": "I need your dates."},
    {"role": "user", "content": [{"type": "text", "text": "That's not what I asked"}, {"type": "text", "text": "just the weather"}]},
]


def test_c25_openai_mapping_credits_the_error_to_its_own_call(tmp_path: Path) -> None:
    path = tmp_path / "c25.json"
    path.write_text(json.dumps({"id": "C25", "messages": C25_OPENAI}))
    (trajectory,) = read_trajectories(str(path))
    report = analyze(trajectory.id, trajectory.events)
    got = [(s.type, s.index, s.tool) for s in report.signals]
    # events: user 0, call a 1, call b 2, result a 3, result b 4, assistant 5, user 6 (system dropped)
    assert got == [(E + "failure.invalid_args", 3, "book_hotel"), (INT + "misalignment.correction", 6, "")]
