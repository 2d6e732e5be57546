"""The one interface every detector implements, and the per-event view detectors read.

A detector is configuration (keyword-only thresholds) plus pure logic over an explicit, small,
msgspec-encodable state. The session owns the state, feeds events in sequence order and stores the
state between events, so the same detector runs in a notebook, a batch job or a Faust worker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar, overload

import msgspec

from detectors.lexicon import find_phrases
from detectors.model import Event, Signal
from detectors.text import PhraseHit, Text, normalize


class CallRef(msgspec.Struct, array_like=True):
    """What the session remembers about an open tool call, to attribute its result."""

    tool: str
    index: int
    args_key: str


T = TypeVar("T")


class computed_once(Generic[T]):
    """``functools.cached_property`` without its lock (Python 3.11 takes one on each first read):
    the value is computed on the first read and stored in the instance's ``__dict__``, where later
    reads find it before this descriptor. A view is read by one thread."""

    def __init__(self, compute: Callable[[Any], T]) -> None:
        self.compute = compute
        self.name = compute.__name__
        self.__doc__ = compute.__doc__

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> Self: ...

    @overload
    def __get__(self, instance: object, owner: type[Any] | None = None) -> T: ...

    def __get__(self, instance: object | None, owner: type[Any] | None = None) -> T | Self:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.compute(instance)
        return value


class EventView:
    """One event plus what the session derived for it, computed at most once and shared.

    ``call`` is the tool call a tool result answers (matched by ``call_id``, else the latest open
    call), or for a tool call its own reference.
    """

    __slots__ = ("__dict__", "call", "event", "index", "kind", "ts")

    def __init__(self, event: Event, call: CallRef | None = None) -> None:
        self.event = event
        self.index = event.seq
        self.kind: str = type(event).__struct_config__.tag  # type: ignore[assignment]
        self.call = call
        self.ts: float | None = event.ts

    @property
    def tool(self) -> str:
        if self.call is not None:
            return self.call.tool
        if self.kind == "tool_call" or self.kind == "tool_result":  # by tag: see Session._apply
            return self.event.tool  # type: ignore[union-attr]
        return ""

    @computed_once
    def text(self) -> Text:
        """Normalised message text (user and assistant messages; empty for other kinds)."""
        return normalize(getattr(self.event, "text", "") or "")

    @computed_once
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
