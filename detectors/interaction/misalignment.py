"""interaction.misalignment.*: the user corrects, rephrases, or asks what the agent meant.

At most one instance per user message, precedence correction > rephrase marker > clarification >
semantic rephrase. A semantic rephrase is a user message whose content words restate one of the
last ``window`` user messages (user turns, not rows: tool round trips in between do not matter).
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from detectors.base import CloseView, EventView
from detectors.interaction.common import content_tokens, first_hit, opens_with_confirmation, phrase_signal
from detectors.lexicon import matcher
from detectors.model import Signal

PHRASE_FAMILIES = (
    ("correction", frozenset({"misalignment.correction"})),
    ("rephrase", frozenset({"misalignment.rephrase"})),
    ("clarification", frozenset({"misalignment.clarification"})),
)
PREFIX = "interaction.misalignment."


class UserContent(msgspec.Struct, array_like=True):
    index: int
    content: list[str]  # distinct content tokens in order, capped


class MisalignmentState(msgspec.Struct):
    recent: list[UserContent] = []  # the last `window` user messages


class Misalignment:
    name: ClassVar[str] = "interaction.misalignment"
    kinds: ClassVar[frozenset[str]] = frozenset({"user"})
    state_type: ClassVar[type[msgspec.Struct]] = MisalignmentState

    def __init__(self, *, window: int = 3, min_content: int = 4, max_new_ratio: float = 0.5,
                 min_overlap: float = 0.75, max_content: int = 32) -> None:
        self.window = window
        self.min_content = min_content
        self.max_new_ratio = max_new_ratio
        self.min_overlap = min_overlap
        self.max_content = max_content

    def on_event(self, state: MisalignmentState, view: EventView) -> list[Signal]:
        if not view.text.tokens:
            return []
        content = content_tokens(view.text.tokens, self.max_content)
        signal = self._phrase(view) or self._semantic(state, view, content)
        state.recent = [*state.recent, UserContent(view.index, content)][-self.window:]
        return [signal] if signal else []

    def on_close(self, state: MisalignmentState, close: CloseView) -> list[Signal]:
        return []

    def _phrase(self, view: EventView) -> Signal | None:
        for pattern_type, lexicons in PHRASE_FAMILIES:
            hit = first_hit(view.hits, lexicons)
            if hit is not None:
                return phrase_signal(PREFIX + pattern_type, view, hit, pattern_type=pattern_type)
        return None

    def _semantic(self, state: MisalignmentState, view: EventView, content: list[str]) -> Signal | None:
        if len(content) < self.min_content or opens_with_confirmation(view):
            return None
        for earlier in reversed(state.recent):
            overlap = self._restates(content, earlier.content)
            if overlap is not None:
                return Signal(
                    type=PREFIX + "rephrase", index=view.index, confidence=round(0.5 + 0.4 * overlap, 4),
                    snippet="[similar rephrase detected]",
                    metadata={"pattern_type": "semantic_rephrase", "compared_to": earlier.index,
                              "overlap": round(overlap, 4)},
                )
        return None

    def _restates(self, current: list[str], earlier: list[str]) -> float | None:
        """Jaccard of the content sets when ``current`` restates ``earlier``, else None."""
        now, before = set(current), set(earlier)
        if len(before) < self.min_content:
            return None
        new = now - before
        shared = len(now & before)
        if len(new) / len(now) > self.max_new_ratio or shared / min(len(now), len(before)) < self.min_overlap:
            return None
        if new and templated(new):
            return None
        return shared / len(now | before)


def templated(new: set[str]) -> bool:
    """The new content only numbers a templated follow-up ("step 1 ..." / "step 2 ...")."""
    ordinals = matcher().words.ordinals
    return all(token.rstrip("stndrh").isdigit() or token in ordinals for token in new)
