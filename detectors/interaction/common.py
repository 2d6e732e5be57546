"""Helpers shared by the interaction detectors: picking hits, openers, building signals."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import filterfalse
from typing import Any

from detectors.base import EventView
from detectors.lexicon import matcher
from detectors.model import Signal
from detectors.text import PhraseHit, surface

CONFIRMATION_OPENERS = frozenset({"prefix.confirmation", "prefix.confirmation_word"})
SATISFACTION = frozenset({
    "satisfaction.courtesy", "satisfaction.gratitude", "satisfaction.gratitude_opener", "satisfaction.confirmation",
    "satisfaction.confirmation_opener", "satisfaction.success",
})


def first_hit(hits: Iterable[PhraseHit], lexicons: frozenset[str]) -> PhraseHit | None:
    """The best hit of the given lexicons: exact before fuzzy, then earliest, then longest."""
    best: PhraseHit | None = None
    for hit in hits:
        if hit.lexicon in lexicons and (best is None or hit.score > best.score):
            best = hit
    return best


def confidence(hit: PhraseHit) -> float:
    """The lexicon's confidence, discounted for a fuzzy (one-typo) hit."""
    return round(matcher().lexicons[hit.lexicon].confidence * hit.score, 4)


def phrase_signal(signal_type: str, view: EventView, hit: PhraseHit, **metadata: Any) -> Signal:
    return Signal(
        type=signal_type,
        index=view.index,
        confidence=confidence(hit),
        snippet=surface(view.text, hit.start, hit.end),
        metadata={**metadata, "phrase": hit.phrase, "match": "exact" if hit.score >= 1.0 else "fuzzy"},
    )


def opens_with_confirmation(view: EventView) -> bool:
    return any(hit.start == 0 and hit.lexicon in CONFIRMATION_OPENERS for hit in view.hits)


def opens_positive(view: EventView) -> bool:
    """First token is positive ("yes", "thanks", ...) and nothing in the message is negated."""
    tokens = view.text.tokens
    words = matcher().words
    return bool(tokens) and tokens[0] in words.positive and words.negators.isdisjoint(tokens)


def is_satisfied(view: EventView) -> bool:
    return any(hit.lexicon in SATISFACTION for hit in view.hits)


def content_tokens(tokens: Iterable[str], limit: int) -> list[str]:
    """Distinct non-stopword tokens, in order of first appearance, at most ``limit``."""
    stopwords = matcher().words.stopwords
    return list(dict.fromkeys(filterfalse(stopwords.__contains__, tokens)))[:limit]
