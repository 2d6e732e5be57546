"""interaction.disengagement.*: the user asks for a human, gives up, or turns hostile.

escalation and quit are independent phrase hits. All hostile indicators of one message (shouting in
capitals, "??"/"!!", profanity, complaint) are collected into ONE negative_stance instance, so one
angry message counts once. Capitals and punctuation are not held against a message that opens
positively ("YES THANK YOU!!"); a one-token message never escalates or quits.
"""

from __future__ import annotations

import re
import string
from typing import Any, ClassVar

import msgspec

from detectors.base import CloseView, EventView
from detectors.interaction.common import confidence, first_hit, opens_positive, phrase_signal
from detectors.model import Signal
from detectors.text import PhraseHit, surface

PREFIX = "interaction.disengagement."
ESCALATION = frozenset({"disengagement.escalation"})
QUIT = frozenset({"disengagement.quit"})
PROFANITY = frozenset({"disengagement.profanity"})
COMPLAINT = frozenset({"disengagement.complaint"})
_QUESTIONS, _EXCLAMATIONS, _MIXED = re.compile(r"\?{2,}"), re.compile(r"!{2,}"), re.compile(r"[?!]{3,}")


_ASCII_LETTERS = string.ascii_letters.encode()
_ASCII_UPPER = string.ascii_uppercase.encode()


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def count_letters(raw: str) -> int:
    """``sum(map(str.isalpha, raw))`` in C-level passes: below 128 the letters are exactly A-Z and
    a-z, counted over the UTF-8 bytes (where every non-ASCII character is made of bytes >= 128);
    the few non-ASCII characters, found by one regex scan, are asked one by one."""
    data = raw.encode("utf-8", "surrogatepass")
    ascii_letters = len(data) - len(data.translate(None, _ASCII_LETTERS))
    if raw.isascii():
        return ascii_letters
    return ascii_letters + sum(map(str.isalpha, _NON_ASCII.findall(raw)))


def count_upper(raw: str) -> int:
    """``sum(map(str.isupper, raw))``, the same way (below 128 only A-Z are upper case)."""
    data = raw.encode("utf-8", "surrogatepass")
    ascii_upper = len(data) - len(data.translate(None, _ASCII_UPPER))
    if raw.isascii():
        return ascii_upper
    return ascii_upper + sum(map(str.isupper, _NON_ASCII.findall(raw)))


class DisengagementState(msgspec.Struct):
    pass


class Disengagement:
    name: ClassVar[str] = "interaction.disengagement"
    kinds: ClassVar[frozenset[str]] = frozenset({"user"})
    state_type: ClassVar[type[msgspec.Struct]] = DisengagementState

    def __init__(self, *, caps_min_letters: int = 10, caps_ratio: float = 0.8, caps_min_words: int = 3,
                 caps_confidence: float = 0.6, punctuation_confidence: float = 0.5, snippet_chars: int = 50) -> None:
        self.caps_min_letters, self.caps_ratio, self.caps_min_words = caps_min_letters, caps_ratio, caps_min_words
        self.caps_confidence, self.punctuation_confidence = caps_confidence, punctuation_confidence
        self.snippet_chars = snippet_chars

    def on_event(self, state: DisengagementState, view: EventView) -> list[Signal]:
        if not view.text.tokens:
            return []
        out: list[Signal] = []
        if len(view.text.tokens) > 1:
            for pattern_type, lexicons in (("escalation", ESCALATION), ("quit", QUIT)):
                hit = first_hit(view.hits, lexicons)
                if hit is not None:
                    out.append(phrase_signal(PREFIX + pattern_type, view, hit, pattern_type=pattern_type))
        stance = self._negative_stance(view)
        return out + ([stance] if stance else [])

    def on_close(self, state: DisengagementState, close: CloseView) -> list[Signal]:
        return []

    def _negative_stance(self, view: EventView) -> Signal | None:
        indicators: dict[str, dict[str, Any]] = {}
        phrases: list[PhraseHit] = []
        for indicator, lexicons in (("profanity", PROFANITY), ("complaint", COMPLAINT)):
            hit = first_hit(view.hits, lexicons)
            if hit is not None:
                phrases.append(hit)
                indicators[indicator] = {"pattern": hit.phrase, "confidence": confidence(hit)}
        if not opens_positive(view):
            indicators.update(self._shouting(view.text.raw, len(view.text.tokens)))
        if not indicators:
            return None
        return self._stance_signal(view, indicators, phrases)

    def _shouting(self, raw: str, words: int) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        letters = count_letters(raw) if words >= self.caps_min_words else 0
        if letters >= self.caps_min_letters:
            ratio = count_upper(raw) / letters
            if ratio >= self.caps_ratio:
                found["all_caps"] = {"upper_ratio": round(ratio, 4), "confidence": self.caps_confidence}
        if "??" in raw or "!!" in raw or "?!?" in raw or "!?!" in raw:
            counts = {"consecutive_questions": len(_QUESTIONS.findall(raw)),
                      "consecutive_exclamations": len(_EXCLAMATIONS.findall(raw)),
                      "mixed_punctuation": len(_MIXED.findall(raw))}
            found["excessive_punctuation"] = {**counts, "confidence": self.punctuation_confidence}
        return found

    def _stance_signal(self, view: EventView, indicators: dict[str, dict[str, Any]],
                       phrases: list[PhraseHit]) -> Signal:
        miss = 1.0
        for details in indicators.values():
            miss *= 1.0 - details["confidence"]
        snippet = surface(view.text, phrases[0].start, phrases[0].end) if phrases else view.text.raw[:self.snippet_chars]
        return Signal(
            type=PREFIX + "negative_stance", index=view.index, confidence=round(1.0 - miss, 4), snippet=snippet,
            metadata={"indicator_type": next(iter(indicators)), "indicators": indicators},
        )
