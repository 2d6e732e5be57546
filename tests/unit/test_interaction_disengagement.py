"""interaction.disengagement: escalation, quit, and ONE negative_stance per message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detectors.base import EventView
from detectors.interaction.disengagement import Disengagement
from detectors.model import Signal
from tests.builders import U, conv, feed_detector


def run(*texts: str) -> list[Signal]:
    return feed_detector(Disengagement(), conv("t", *(U(t) for t in texts)))


def kinds(signals: list[Signal]) -> list[str]:
    return sorted(s.type.rsplit(".", 1)[1] for s in signals)


@pytest.mark.parametrize(
    ("message", "expected", "indicators"),
    [
        ("Connect me to a real person, this is pointless", ["escalation", "negative_stance"], ["complaint"]),  # C02
        ("Forget it, I give up", ["quit"], []),  # C13
        ("Why does the upload still fail???", ["negative_stance"], ["excessive_punctuation"]),  # C14
        ("I NEED TO TALK TO A HUMAN RIGHT NOW!!", ["escalation", "negative_stance"],
         ["all_caps", "excessive_punctuation"]),  # C15: one stance, two indicators
        ("Yes!! That's perfect!!!", [], []),  # C16
        ("This is useless", ["negative_stance"], ["complaint"]),  # C17a, flaw 6
        ("let me talk to a human agent", ["escalation"], []),
        ("transfer me please, I'm done with this", ["escalation", "quit"], []),
        ("This is bullshit, I quit", ["negative_stance", "quit"], ["profanity"]),
        ("THANK YOU SO MUCH FOR YOUR HELP", [], []),  # positive opener: shouting is joy
        ("NASA FBI", [], []),  # short acronyms are not shouting
    ],
)
def test_disengagement_table(message: str, expected: list[str], indicators: list[str]) -> None:
    signals = run(message)
    assert kinds(signals) == expected
    stance = [s for s in signals if s.type.endswith("negative_stance")]
    assert sorted(stance[0].metadata["indicators"]) == sorted(indicators) if stance else indicators == []


def test_flaw_4_snippet_is_the_matched_text_not_an_earlier_list_entry() -> None:
    (escalation,) = run("Connect me to a real person")
    assert escalation.snippet == "Connect me to a real person"
    assert escalation.metadata["phrase"] == "connect me to a real person"


@pytest.mark.parametrize("message", ["help", "why??", "what!!", "Help!"])
def test_flaw_8_one_word_messages_do_not_escalate_quit_or_curse(message: str) -> None:
    assert not [s for s in run(message) if s.type.endswith(("escalation", "quit"))]
    assert all("profanity" not in s.metadata.get("indicators", {}) for s in run(message))


def test_flaw_3_positive_prefix_is_token_anchored() -> None:
    assert kinds(run("Pleased to see this fail again??")) == ["negative_stance"]
    assert kinds(run("Yesterday the build failed??")) == ["negative_stance"]
    assert kinds(run("Yes, it works now!!")) == []


def test_flaw_6_complaint_is_not_suppressed_by_escalation() -> None:
    signals = run("This is useless, let me speak to a manager")
    assert kinds(signals) == ["escalation", "negative_stance"]


def test_flaw_17_one_angry_message_counts_once() -> None:
    signals = run("THIS IS TOTAL BULLSHIT!!!", "FIX IT RIGHT NOW PLEASE!!")
    assert [s.index for s in signals] == [0, 1]
    first = signals[0].metadata["indicators"]
    assert set(first) == {"profanity", "all_caps", "excessive_punctuation"}
    assert signals[0].confidence > signals[1].confidence  # more evidence, more confidence


def test_thresholds_are_keyword_arguments() -> None:
    lenient = Disengagement(caps_ratio=1.01)
    state = lenient.state_type()
    view = EventView(conv("t", U("I NEED TO TALK TO SOMEONE ABOUT THIS"))[0])
    assert all("all_caps" not in s.metadata.get("indicators", {}) for s in lenient.on_event(state, view))


@given(st.text(alphabet=st.characters(max_codepoint=0x2FFF), max_size=40) | st.text(alphabet=st.characters(max_codepoint=127)))
def test_letter_and_upper_counts_are_those_of_str_isalpha_and_isupper(raw: str) -> None:
    from detectors.interaction.disengagement import count_letters, count_upper
    assert count_letters(raw) == sum(map(str.isalpha, raw))
    assert count_upper(raw) == sum(map(str.isupper, raw))
