"""The lexicon data, the single automaton, negation, anchoring and one-typo matching."""

from __future__ import annotations

import pytest

from detectors.lexicon import Matcher, find_phrases, load, matcher
from detectors.text import FUZZY_SCORE, normalize


def lexicons_of(message: str) -> list[str]:
    return [hit.lexicon for hit in find_phrases(normalize(message))]


def test_every_lexicon_has_phrases_and_a_calibrated_confidence() -> None:
    lexicons, words = load()
    assert {"misalignment.correction", "disengagement.escalation", "satisfaction.gratitude"} <= set(lexicons)
    for lexicon in lexicons.values():
        assert lexicon.phrases and 0.0 < lexicon.confidence <= 1.0
    assert {"not", "dont", "never"} <= words.negators


def test_one_automaton_finds_phrases_of_all_lexicons_in_one_pass() -> None:
    assert isinstance(matcher(), Matcher)
    assert matcher() is matcher()  # compiled once
    found = set(lexicons_of("no i meant the other one, this is useless, let me talk to a human, thanks"))
    # "thanks" is a courtesy word: its own (generic) lexicon, so it never hides a specific phrase
    assert found == {"misalignment.correction", "disengagement.complaint", "disengagement.escalation",
                     "satisfaction.courtesy"}


@pytest.mark.parametrize(
    "message",
    ["This is not great", "I don't think that works", "OKAY THIS IS REALLY NOT WORKING", "it didn't work",
     "That's great... not", "I never said thanks"],
)
def test_negated_positive_phrases_are_dropped(message: str) -> None:
    assert not [lx for lx in lexicons_of(message) if lx.startswith("satisfaction.")]


@pytest.mark.parametrize("message", ["Not bad, thanks!", "No problem. That works", "that works"])
def test_negation_stops_at_clause_break(message: str) -> None:
    assert any(lx.startswith("satisfaction.") for lx in lexicons_of(message))


def test_fuzzy_typo_matches_with_lower_score() -> None:
    (hit,) = find_phrases(normalize("no i ment"))
    assert (hit.lexicon, hit.phrase, hit.score) == ("misalignment.correction", "no i meant", FUZZY_SCORE)


@pytest.mark.parametrize(
    "message",
    ["No I don't", "I understand", "This is useless now", "What do you think?",
     "please can you check the booking for me and also tell me the price of the flight"],
)
def test_fuzzy_does_not_invent_hits(message: str) -> None:
    assert all(hit.score == 1.0 for hit in find_phrases(normalize(message)))


@pytest.mark.parametrize(("message", "anchored"), [("Perfect!", True), ("Perfect, book it", True),
                                                   ("Perfect timing is hard", False), ("That is perfect", False)])
def test_anchored_openers(message: str, anchored: bool) -> None:
    assert ("satisfaction.gratitude_opener" in lexicons_of(message)) is anchored


@pytest.mark.parametrize(("message", "opener"), [("Right, that one", True), ("right now please", False),
                                                 ("correct", True), ("correct the date please", False)])
def test_confirmation_word_needs_its_own_clause(message: str, opener: bool) -> None:
    assert ("prefix.confirmation_word" in lexicons_of(message)) is opener
