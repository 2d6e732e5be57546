"""Text normalisation and phrase finding, shared by every interaction detector.

Placeholder implementation: replaced by the lexicon automaton (see detectors/lexicon.py).
"""

from __future__ import annotations

import msgspec

MAX_CHARS = 2000
_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})


class Text(msgspec.Struct, frozen=True):
    raw: str  # original text, length-capped (head and tail kept)
    norm: str  # lowercased, quotes folded, whitespace collapsed
    tokens: tuple[str, ...]  # words with boundary punctuation stripped


class PhraseHit(msgspec.Struct, frozen=True, array_like=True):
    lexicon: str  # e.g. "misalignment.correction"
    phrase: str
    start: int  # token offsets [start, end)
    end: int


EMPTY = Text("", "", ())


def cap(text: str, limit: int = MAX_CHARS) -> str:
    """Keep the head fifth and the tail of over-long text."""
    if len(text) <= limit:
        return text
    head = limit // 5
    return text[:head] + " " + text[-(limit - head - 1):]


def normalize(text: str) -> Text:
    if not text:
        return EMPTY
    raw = cap(text)
    norm = " ".join(raw.translate(_QUOTES).lower().split())
    tokens = tuple(t for t in (w.strip(_PUNCT) for w in norm.split(" ")) if t)
    return Text(raw, norm, tokens)


def find_phrases(text: Text) -> list[PhraseHit]:
    return []
