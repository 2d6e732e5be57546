"""The one interface every detector implements, and the per-event view detectors read.

A detector is configuration (keyword-only thresholds) plus pure logic over an explicit, small,
msgspec-encodable state. The session owns the state, feeds events in sequence order and stores the
state between events, so the same detector runs in a notebook, a batch job or a Faust worker.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar, Protocol

import msgspec

from detectors.lexicon import find_phrases
from detectors.model import Event, Signal, ToolCall, ToolResult
from detectors.text import PhraseHit, Text, normalize


class CallRef(msgspec.Struct, array_like=True):
    """What the session remembers about an open tool call, to attribute its result."""

    tool: str
    index: int
    args_key: str


class EventView:
    """One event plus what the session derived for it, computed at most once and shared.

    ``call`` is the tool call a tool result answers (matched by ``call_id``, else the latest open
    call), or for a tool call its own reference.
    """

    __slots__ = ("__dict__", "call", "event", "index", "kind")

    def __init__(self, event: Event, call: CallRef | None = None) -> None:
        self.event = event
        self.index = event.seq
        self.kind: str = type(event).__struct_config__.tag  # type: ignore[assignment]
        self.call = call

    @property
    def ts(self) -> float | None:
        return self.event.ts

    @property
    def tool(self) -> str:
        if self.call is not None:
            return self.call.tool
        if isinstance(self.event, ToolCall | ToolResult):
            return self.event.tool
        return ""

    @cached_property
    def text(self) -> Text:
        """Normalised message text (user and assistant messages; empty for other kinds)."""
        return normalize(getattr(self.event, "text", "") or "")

    @cached_property
    def hits(self) -> list[PhraseHit]:
        """Every lexicon phrase found in the text, from one automaton pass."""
        return find_phrases(self.text)


class CloseView(msgspec.Struct, kw_only=True):
    """What detectors see when the session closes (end event, or event-time inactivity)."""

    last_index: int
    last_ts: float | None
    user_turns: int


class Detector(Protocol):
    """``on_event`` and ``on_close`` may update ``state`` in place and must not touch the view."""

    name: ClassVar[str]
    kinds: ClassVar[frozenset[str]]  # event kinds this detector wants to see
    state_type: ClassVar[type[msgspec.Struct]]

    def on_event(self, state: Any, view: EventView) -> list[Signal]: ...

    def on_close(self, state: Any, close: CloseView) -> list[Signal]: ...
