"""interaction.stagnation.*: the conversation drags on, or a party repeats itself.

repetition: each user or assistant message is compared with the last ``window`` messages of the
same role (compact fingerprints, not texts). Exact = same token sequence; near_duplicate = token-set
Jaccard >= ``near_duplicate`` (reordered or lightly edited). Messages with fewer than ``min_tokens``
tokens and fewer than ``min_content`` content words ("ok", "yes please") are not checked, nor is a
user message opening with a confirmation ("yes, ...") that has fewer than ``min_content`` of them.

dragging fires at most once per trajectory, on the event where the first rule holds:
- turns: the ``max_turns``-th user message (the reference fires at 10 user turns);
- time: an event whose timestamp is more than ``max_duration`` seconds after the first timestamped
  event, if no user message so far expressed satisfaction. Event time only, never the wall clock.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from detectors.base import CloseView, EventView
from detectors.interaction.common import content_tokens, is_satisfied, opens_with_confirmation
from detectors.interaction.fingerprint import Fingerprint, fingerprint, similarity
from detectors.model import Signal

ALL_KINDS = frozenset({"user", "assistant", "tool_call", "tool_result", "feedback", "end"})
ROLES = {"user": "human", "assistant": "gpt"}


class StagnationState(msgspec.Struct):
    user_turns: int = 0
    first_ts: float | None = None
    satisfied: bool = False
    dragging: bool = False  # already fired
    user: list[Fingerprint] = []
    assistant: list[Fingerprint] = []


class Stagnation:
    name: ClassVar[str] = "interaction.stagnation"
    kinds: ClassVar[frozenset[str]] = ALL_KINDS
    state_type: ClassVar[type[msgspec.Struct]] = StagnationState

    def __init__(self, *, window: int = 3, min_tokens: int = 5, min_content: int = 3,
                 exact: float = 0.95, near_duplicate: float = 0.85, sketch_size: int = 48,
                 max_turns: int = 10, baseline_turns: int = 5, max_duration: float = 600.0) -> None:
        self.window, self.min_tokens, self.min_content = window, min_tokens, min_content
        self.exact, self.near_duplicate, self.sketch_size = exact, near_duplicate, sketch_size
        self.max_turns, self.baseline_turns, self.max_duration = max_turns, baseline_turns, max_duration

    def on_event(self, state: StagnationState, view: EventView) -> list[Signal]:
        kind = view.kind
        out = self._repetition(state, view) if kind in ROLES else []
        if kind == "user":
            state.user_turns += 1
            state.satisfied = state.satisfied or is_satisfied(view)
        dragging = None if state.dragging else self._dragging(state, view)
        if dragging:
            out.append(dragging)
        return out

    def on_close(self, state: StagnationState, close: CloseView) -> list[Signal]:
        return []

    # -- repetition ------------------------------------------------------------------------
    def _repetition(self, state: StagnationState, view: EventView) -> list[Signal]:
        if not self._checked(view):
            return []
        current = fingerprint(view.index, view.text.tokens, self.sketch_size)
        history = state.user if view.kind == "user" else state.assistant
        best, score = None, 0.0
        for earlier in reversed(history):
            value = similarity(current, earlier, self.sketch_size, self.near_duplicate)
            if value > score:
                best, score = earlier, value
        history.append(current)
        del history[:-self.window]
        if best is None or score < self.near_duplicate:
            return []
        return [self._repetition_signal(view, best.index, score)]

    def _checked(self, view: EventView) -> bool:
        tokens = view.text.tokens
        if len(tokens) >= self.min_tokens and not (view.kind == "user" and opens_with_confirmation(view)):
            return True
        return len(content_tokens(tokens, self.min_content)) >= self.min_content

    def _repetition_signal(self, view: EventView, compared_to: int, score: float) -> Signal:
        kind = "exact" if score >= self.exact else "near_duplicate"
        label = "Exact repetition" if kind == "exact" else "Near-duplicate"
        return Signal(
            type="interaction.stagnation.repetition", index=view.index, confidence=round(score, 4),
            snippet=f"{label} with message {compared_to}",
            metadata={"repetition_type": kind, "compared_to": compared_to, "similarity": round(score, 4),
                      "role": ROLES[view.kind]},
        )

    # -- dragging --------------------------------------------------------------------------
    def _dragging(self, state: StagnationState, view: EventView) -> Signal | None:
        if state.dragging:
            return None
        ts = view.ts
        if ts is not None and state.first_ts is None:
            state.first_ts = ts
        elapsed = ts - state.first_ts if ts is not None and state.first_ts is not None else None
        if view.kind == "user" and state.user_turns == self.max_turns:
            rule, confidence = "turns", 1.0 - self.efficiency(state.user_turns)
        elif elapsed is not None and elapsed > self.max_duration and not state.satisfied:
            rule, confidence = "time", min(0.9, 1.0 - self.max_duration / (2.0 * elapsed))
        else:
            return None
        state.dragging = True
        return self._dragging_signal(state, view, rule, confidence, elapsed)

    def efficiency(self, turns: int) -> float:
        excess = turns - self.baseline_turns
        return 1.0 if excess <= 0 else 1.0 / (1.0 + 0.25 * excess)

    def _dragging_signal(self, state: StagnationState, view: EventView, rule: str, confidence: float,
                         elapsed: float | None) -> Signal:
        turns, efficiency = state.user_turns, self.efficiency(state.user_turns)
        metadata: dict[str, object] = {"rule": rule, "total_turns": turns, "efficiency_score": round(efficiency, 4),
                                       "baseline_turns": self.baseline_turns}
        if elapsed is not None:
            metadata["elapsed_s"] = round(elapsed, 3)
        detail = f"{turns} turns" if rule == "turns" else f"{elapsed:.0f}s"
        return Signal(type="interaction.stagnation.dragging", index=view.index, confidence=round(confidence, 4),
                      snippet=f"Conversation dragging: {detail} (efficiency: {efficiency:.2f})", metadata=metadata)
