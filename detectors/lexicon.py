"""Lexicons as data (TOML under detectors/lexicons/), compiled once into one Aho-Corasick automaton.

Phrases are matched on whole tokens: the message tokens are joined with single spaces and padded,
and every phrase key is " tok tok ", so "please" never matches "pleased". Typo tolerance is narrow
on purpose (see ``text.FuzzyIndex``); there is no bag-of-words matching.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

import ahocorasick
import msgspec

from detectors.text import FuzzyIndex, PhraseHit, Text, clause_breaks, normalize

LEXICON_FILES = ("interaction.toml",)


class Lexicon(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # "<family>.<lexicon>", e.g. "misalignment.correction"
    phrases: tuple[str, ...]  # normalised, space-joined tokens
    confidence: float = 0.9
    negatable: bool = False
    fuzzy: bool = False
    anchored: bool = False


class Words(msgspec.Struct, frozen=True, kw_only=True):
    negation_window: int = 3
    negators: frozenset[str] = frozenset()
    positive: frozenset[str] = frozenset()
    stopwords: frozenset[str] = frozenset()
    ordinals: frozenset[str] = frozenset()


def canonical(phrase: str) -> str:
    return " ".join(normalize(phrase).tokens)


def _lexicon(name: str, table: dict[str, Any]) -> Lexicon:
    phrases = list(table.get("phrases", []))
    phrases += [f"{frame} {target}" for frame in table.get("frames", []) for target in table.get("targets", [])]
    return Lexicon(
        name=name,
        phrases=tuple(dict.fromkeys(canonical(p) for p in phrases)),
        confidence=float(table.get("confidence", 0.9)),
        negatable=bool(table.get("negatable", False)),
        fuzzy=bool(table.get("fuzzy", False)),
        anchored=bool(table.get("anchored", False)),
    )


def load(files: tuple[str, ...] = LEXICON_FILES) -> tuple[dict[str, Lexicon], Words]:
    """Read the lexicon files: every nested table with ``phrases`` (or frames) is a lexicon."""
    lexicons: dict[str, Lexicon] = {}
    words: dict[str, Any] = {}
    for file in files:
        data = tomllib.loads(resources.files("detectors.lexicons").joinpath(file).read_text("utf-8"))
        words.update(data.pop("words", {}))
        for family, tables in data.items():
            for name, table in tables.items():
                lexicons[f"{family}.{name}"] = _lexicon(f"{family}.{name}", table)
    return lexicons, msgspec.convert(words, Words)


class Matcher:
    """All phrases of all lexicons in one automaton; negation and anchoring applied to hits."""

    def __init__(self, lexicons: dict[str, Lexicon], words: Words) -> None:
        self.lexicons = lexicons
        self.words = words
        self.automaton = ahocorasick.Automaton()
        entries: dict[str, list[str]] = {}
        for lexicon in lexicons.values():
            for phrase in lexicon.phrases:
                entries.setdefault(phrase, []).append(lexicon.name)
        for phrase, names in entries.items():
            self.automaton.add_word(f" {phrase} ", (phrase, phrase.count(" ") + 1, tuple(names)))
        self.automaton.make_automaton()
        self.fuzzy = FuzzyIndex([(lx.name, lx.phrases) for lx in lexicons.values() if lx.fuzzy], words.negators)

    def find(self, text: Text) -> list[PhraseHit]:
        padded = f" {' '.join(text.tokens)} "
        hits: list[PhraseHit] = []
        for end_char, (phrase, size, names) in self.automaton.iter(padded):
            end = padded.count(" ", 0, end_char + 1) - 1
            hits += [PhraseHit(name, phrase, end - size, end) for name in names]
        hits += self.fuzzy.find(text.tokens, {hit.lexicon for hit in hits})
        if hits:
            hits = self._keep(text, hits)
        return sorted(hits, key=_position)

    def _keep(self, text: Text, hits: list[PhraseHit]) -> list[PhraseHit]:
        lexicons = self.lexicons
        if not any(lexicons[h.lexicon].negatable or lexicons[h.lexicon].anchored for h in hits):
            return hits
        return [h for h in hits if self._valid(text, h)]

    def _valid(self, text: Text, hit: PhraseHit) -> bool:
        lexicon, tokens = self.lexicons[hit.lexicon], text.tokens
        if lexicon.anchored and hit.start != 0:
            return False
        if lexicon.anchored and hit.end != len(tokens) and hit.end - 1 not in clause_breaks(text):
            return False
        return not (lexicon.negatable and self.negated(text, hit))

    def negated(self, text: Text, hit: PhraseHit) -> bool:
        """A negator in the same clause within the window before the hit, or a trailing "not"."""
        tokens, negators = text.tokens, self.words.negators
        if hit.end == len(tokens) - 1 and tokens[-1] == "not":
            return True
        before = range(max(hit.start - self.words.negation_window, 0), hit.start)
        negator = max((p for p in before if tokens[p] in negators), default=-1)
        if negator < 0:
            return False
        breaks = clause_breaks(text)
        return not any(p in breaks for p in range(negator, hit.start))


def _position(hit: PhraseHit) -> tuple[int, int]:
    return hit.start, hit.start - hit.end


@cache
def matcher() -> Matcher:
    return Matcher(*load())


def find_phrases(text: Text) -> list[PhraseHit]:
    """Every lexicon phrase in the text (whole tokens, negation applied), sorted by position."""
    if not text.tokens:
        return []
    return matcher().find(text)
