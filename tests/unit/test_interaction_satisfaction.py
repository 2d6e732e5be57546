"""interaction.satisfaction: gratitude > confirmation > success, negation-aware, one per message."""

from __future__ import annotations

import pytest

from detectors.interaction.satisfaction import Satisfaction
from detectors.model import Signal
from tests.builders import A, U, conv, feed_detector


def run(*texts: str) -> list[Signal]:
    return feed_detector(Satisfaction(), conv("t", *(U(t) if i % 2 == 0 else A(t) for i, t in enumerate(texts))))


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("That's perfect, just what I needed!", ("gratitude", "That's perfect")),  # C03
        ("That works for me", ("confirmation", "That works")),  # C04
        ("Nice, it worked!", ("success", "it worked")),  # C05
        ("Yes!! That's perfect!!!", ("gratitude", "That's perfect")),  # C16
        ("Thank you so much!", ("gratitude", "Thank you")),  # C17c, flaw 2
        ("thx", ("gratitude", "thx")),
        ("Great, thanks, bye", ("gratitude", "thanks")),  # gratitude beats the confirmation opener
        ("Perfect!", ("gratitude", "Perfect")),
        ("Sounds good, it works now", ("confirmation", "Sounds good")),
        ("Much appreciated", ("gratitude", "Much appreciated")),
        ("Why is the sky blue?", None),
    ],
)
def test_satisfaction_table(message: str, expected: tuple[str, str] | None) -> None:
    signals = run(message)
    got = (signals[0].type.rsplit(".", 1)[1], signals[0].snippet) if signals else None
    assert got == expected
    assert len(signals) <= 1


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Great, it worked!", ("success", "it worked")),
        ("Thanks, that works for me", ("confirmation", "that works")),
        ("Great, that works for me", ("confirmation", "that works")),
        ("thanks, it worked", ("success", "it worked")),
        ("Perfect, it worked", ("success", "it worked")),
        ("Thank you so much, that works", ("confirmation", "that works")),
        ("Awesome, thanks, that's helpful", ("gratitude", "that's helpful")),
    ],
)
def test_specific_phrase_is_not_hidden_by_a_generic_opener_or_courtesy_word(
        message: str, expected: tuple[str, str]) -> None:
    """Issue 10 item 7: "Great," and "thanks" are generic; the specific phrase is reported."""
    [signal] = run(message)
    assert (signal.type.rsplit(".", 1)[1], signal.snippet) == expected
    assert signal.metadata["specific"] is True


def test_generic_hit_is_reported_when_nothing_specific_is_there() -> None:
    [signal] = run("Great, thanks!")
    assert (signal.type, signal.metadata["specific"]) == ("interaction.satisfaction.gratitude", False)


@pytest.mark.parametrize(
    "message",
    ["This is not great", "I don't think that works", "OKAY THIS IS REALLY NOT WORKING", "it didn't work"],
)
def test_flaw_9_negation_blindness_is_fixed(message: str) -> None:
    assert run(message) == []  # C17d and friends


def test_flaw_10_confidence_is_calibrated() -> None:
    confidences = {s.type: s.confidence for s in run("thanks", "ok", "sounds good", "ok", "it worked")}
    assert len(set(confidences.values())) > 1 and max(confidences.values()) < 1.0


def test_index_points_at_the_message() -> None:
    assert [s.index for s in run("book it", "Booked.", "thanks")] == [2]
