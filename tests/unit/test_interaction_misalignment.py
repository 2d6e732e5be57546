"""interaction.misalignment: correction > rephrase marker > clarification > semantic rephrase."""

from __future__ import annotations

from typing import Any

import pytest

from detectors.interaction.misalignment import Misalignment
from detectors.model import Event, Signal
from tests.builders import A, C, R, U, conv, feed_detector


def run(events: list[Event], detector: Misalignment | None = None) -> list[Signal]:
    return feed_detector(detector or Misalignment(), events)


def found(*specs: dict[str, Any]) -> list[tuple[str, int, str]]:
    return [(s.type.rsplit(".", 1)[1], s.index, s.metadata["pattern_type"]) for s in run(conv("t", *specs))]


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        # reference checklist rows where the reference is right
        ((U("Show the red shoes"), A("Here are the red boots."), U("No, I meant the red sneakers")),
         [("correction", 2, "correction")]),  # C06
        ((U("Get me the sales numbers"), A("Which region?"), U("In other words, I want the totals for every region")),
         [("rephrase", 2, "rephrase")]),  # C07
        ((U("Compute the delta"), A("The delta is the Kronecker symbol."), U("Sorry, what does that mean?")),
         [("clarification", 2, "clarification")]),  # C08
        ((U("Reserve a table for two people tomorrow evening at a sushi place nearby"), A("Which time?"),
          U("Reserve a sushi place nearby tomorrow evening, table for two people")),
         [("rephrase", 2, "semantic_rephrase")]),  # C09
        ((U("My laptop screen keeps flickering after the update"), A("Let me look into that."),
          U("My laptop screen keeps flickering after the update")), [("rephrase", 2, "semantic_rephrase")]),  # C10
        # added phrases
        ((U("book it"), A("Booked for Monday."), U("That's wrong, you misunderstood")), [("correction", 2, "correction")]),
        ((U("Hey, can you answer something for me?"), A("Sure"), U("Why is the sky blue?")), []),  # C01
        # precedence: correction wins over clarification in the same message
        ((U("No, I meant Tuesday, I don't understand why you picked Monday"),), [("correction", 0, "correction")]),
    ],
)
def test_misalignment_table(specs: tuple[dict[str, Any], ...], expected: list[tuple[str, int, str]]) -> None:
    assert found(*specs) == expected


def test_snippet_is_the_text_as_written_and_exact_beats_fuzzy_confidence() -> None:
    exact = run(conv("t", U("No, I meant the red ones")))[0]
    fuzzy = run(conv("t", U("no i ment")))[0]
    assert exact.snippet == "No, I meant"
    assert fuzzy.metadata["match"] == "fuzzy" and fuzzy.confidence < exact.confidence


def test_at_most_one_instance_per_message() -> None:
    signals = run(conv("t", U("No, I meant: in other words, what do you mean? I don't understand")))
    assert len(signals) == 1


def test_flaw_7_fuzzy_false_positives_are_gone() -> None:
    assert run(conv("t", U("What do you think?"), U("I understand"), U("No I don't"))) == []


def test_flaw_11_rephrase_after_tool_round_trip_and_older_turn() -> None:
    signals = run(conv(
        "t",
        U("please cancel my flight reservation to boston next friday"),
        A("Which reservation?"), C("get_reservations", {"user": "u1"}, call_id="c1"), R("[...]", call_id="c1"),
        U("my name is Ann"), A("Thanks Ann."),
        U("cancel my boston flight reservation next friday please"),
    ))
    assert [(s.index, s.metadata["compared_to"]) for s in signals] == [(6, 0)]


def test_flaw_11_templated_follow_ups_are_not_rephrases() -> None:
    specs = [U(f"step {n}: please explain the cooling system design in detail") for n in (1, 2, 3, 4)]
    specs += [U("first chapter: summarise the main characters and their motives"),
              U("second chapter: summarise the main characters and their motives")]
    assert run(conv("t", *specs)) == []


def test_flaw_3_confirmation_opener_is_token_anchored() -> None:
    previous = U("please proceed with the booking of the cheapest direct flight")
    confirmed = run(conv("t", previous, U("Yes, proceed with the booking of the cheapest direct flight")))
    right_now = run(conv("t", previous, U("right now proceed with the booking of the cheapest direct flight")))
    assert confirmed == []
    assert [s.metadata["pattern_type"] for s in right_now] == ["semantic_rephrase"]


def test_window_is_a_keyword_threshold() -> None:
    specs = (U("reset the office router password today"), U("a"), U("b"), U("c"),
             U("reset the office router password today"))
    assert run(conv("t", *specs), Misalignment(window=3)) == []
    assert len(run(conv("t", *specs), Misalignment(window=4))) == 1
