"""interaction.stagnation: repetition (user and assistant, own window) and dragging (turns or time)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from detectors.base import EventView
from detectors.interaction.stagnation import Stagnation, StagnationState
from detectors.model import Event, Signal
from tests.builders import A, C, R, U, conv, feed_detector


def run(events: list[Event], detector: Stagnation | None = None) -> list[Signal]:
    return feed_detector(detector or Stagnation(), events)


def repetitions(*specs: dict[str, Any]) -> list[tuple[int, int, str, str]]:
    return [(s.index, s.metadata["compared_to"], s.metadata["repetition_type"], s.metadata["role"])
            for s in run(conv("t", *specs)) if s.type.endswith("repetition")]


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        ((U("Reserve a table for two people tomorrow evening at a sushi place nearby"), A("Which time?"),
          U("Reserve a sushi place nearby tomorrow evening, table for two people")),
         [(2, 0, "near_duplicate", "human")]),  # C09
        ((U("My laptop screen keeps flickering after the update"), A("Let me look into that."),
          U("My laptop screen keeps flickering after the update")), [(2, 0, "exact", "human")]),  # C10
        ((U("reset my password"), A("You can reset your password from the account settings page."),
          U("where exactly"), A("You can reset your password from the account settings page.")),
         [(3, 1, "exact", "gpt")]),  # C11
        ((U("ok"), A("Done."), U("ok")), []),  # short acknowledgements are not stagnation
        ((U("Please reset the router in the office"), A("Done."), U("Please reset the router in the office")),
         [(2, 0, "exact", "human")]),  # flaw 12: short-but-meaningful and "please"-prefixed
        ((U("Please reset the router in the office"), U("Please reset the router in the kitchen")), []),
    ],
)
def test_repetition_table(specs: tuple[dict[str, Any], ...], expected: list[tuple[int, int, str, str]]) -> None:
    assert repetitions(*specs) == expected


def test_flaw_12_window_looks_back_three_messages_of_the_same_role() -> None:
    text = "Could you check the status of order 1234 for me"
    specs = [U(text), A("Checking."), U("and my address?"), A("Which one?"), U("home"), A("Ok."), U(text)]
    assert repetitions(*specs) == [(6, 0, "exact", "human")]
    fillers = [U(f"what about flight number {n} then") for n in ("one", "two", "three")]
    assert repetitions(*specs[:1], *fillers, U(text)) == []  # fell out of the window


def test_state_is_bounded_fingerprints() -> None:
    detector, state = Stagnation(window=3, sketch_size=8), StagnationState()
    for event in conv("t", *(A(f"answer number {i} " + "word " * 50 + f"tail{i} " * i) for i in range(20))):
        detector.on_event(state, EventView(event))
    assert len(state.assistant) == 3 and all(len(f.sketch) <= 8 for f in state.assistant)
    assert len(msgspec.msgpack.encode(state)) < 400


def test_dragging_fires_once_at_the_tenth_user_turn() -> None:
    specs = [spec for i in range(12) for spec in (U(f"explain topic{i}"), A(f"topic{i} is ..."))]
    dragging = [s for s in run(conv("t", *specs)) if s.type.endswith("dragging")]
    assert [(s.index, s.metadata["rule"], s.metadata["total_turns"]) for s in dragging] == [(18, "turns", 10)]
    assert dragging[0].confidence == pytest.approx(1 - 1 / (1 + 0.25 * 5), abs=1e-4)  # C12: efficiency 0.444


def test_no_dragging_at_nine_turns() -> None:
    specs = [spec for i in range(9) for spec in (U(f"explain topic{i}"), A(f"topic{i} is ..."))]
    assert run(conv("t", *specs)) == []  # C12b


def test_flaw_14_dragging_by_event_time_without_satisfaction() -> None:
    events = conv("t", U("where is my refund"), C("lookup", {"id": 1}), R("pending"), A("It is pending."),
                  U("still waiting"), start_ts=1000.0, step=200.0)
    dragging = [s for s in run(events) if s.type.endswith("dragging")]
    assert [(s.index, s.metadata["rule"], s.metadata["elapsed_s"]) for s in dragging] == [(4, "time", 800.0)]


def test_time_rule_is_suppressed_by_satisfaction_and_uses_event_time_only() -> None:
    happy = conv("t", U("book it"), U("thanks, that works"), A("Anything else?"), U("no"), start_ts=0.0, step=400.0)
    assert run(happy) == []
    untimed = conv("t", U("book it"), A("Done"), U("why"))
    assert run(untimed, Stagnation(max_duration=0.0)) == []
