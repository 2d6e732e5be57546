"""Spans -> events, one trajectory per conversation, every message once and in order.

Design (see docs/otel.md): an inference span's history is self-contained. Each span is converted
on its own, ``seq`` being the event's position in that span's history, so a message repeated by
later spans gets the same (trajectory_id, seq) every time; the sessions' duplicate and reorder
handling (``detectors/session.py``) keep the first copy of each seq and apply them in order. No
state is needed for correctness; the ``Assembler`` keeps a little, bounded, to save work and to
join ``execute_tool`` spans:
- per conversation, the next seq not yet emitted (``sent``) and the number of history messages
  those events came from (``converted``): a span repeating the history converts and emits only
  the messages past that prefix (the repeats would be dropped downstream anyway), so a growing
  conversation is converted once, not once per span; the tool names of the earlier calls;
- per conversation, the latest tool runs by call id: a ``ToolResult`` with that call id (from the
  next span's input) is emitted once, marked ``is_error`` and ``otel_error_type`` when the run
  failed. A run is never an event of its own in streaming (that event would have no stable seq);
  ``assemble`` (whole files) appends the runs no span repeated after the conversation's events;
- per trace, the conversation id and agent seen on any of its spans (for spans lacking them).
Bounded: ``max_conversations`` and ``max_traces`` (LRU), ``max_tool_runs`` per conversation.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from detectors.adapters.base import Trajectory
from detectors.adapters.otel.convert import events_of
from detectors.adapters.otel.genai import GenAI
from detectors.adapters.otel.identity import Identities
from detectors.adapters.otel.legacy import Legacy
from detectors.adapters.otel.openinference import OpenInference
from detectors.adapters.otel.reading import INFERENCE, TOOL, Reading, Shape, ToolRun
from detectors.adapters.otel.spans import Span, SpanError
from detectors.model import Event, ToolCall, ToolResult

SYSTEM_ROLES: Final = frozenset({"system", "developer"})  # make no event; spans may carry them or not
MAX_NAMES: Final = 256  # tool names of earlier calls kept per conversation (a result names its call's tool)
SHAPES: Final[tuple[Shape, ...]] = (OpenInference(), GenAI(), Legacy())  # checked in this order


def read_span(span: Span) -> Reading | None:
    """The first shape that matches the span reads it (None: not a GenAI span, or nothing to use)."""
    shape = next((s for s in SHAPES if s.matches(span)), None)
    return shape.read(span) if shape is not None else None


@dataclass(slots=True)
class _Conversation:
    sent: int = 0  # events emitted: the next seq
    converted: int = 0  # history messages (system ones not counted) converted into those events
    call_names: dict[str, str] = field(default_factory=dict)  # of the calls among them (the latest MAX_NAMES)
    runs: OrderedDict[str, ToolRun] = field(default_factory=OrderedDict)
    common: dict[str, str] = field(default_factory=dict)  # of the first inference span that gave events
    tool_common: dict[str, str] = field(default_factory=dict)  # of its first tool span (tool-only files)
    inferred: bool = False  # an inference span gave events
    calls: set[str] = field(default_factory=set)  # call ids seen (whole-file assembly only)
    answered: set[str] = field(default_factory=set)  # call ids with a ToolResult (idem)
    first_ns: int = 0


@dataclass
class Batch:
    events: list[Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "span <id>: reason", one per span skipped
    spans: int = 0


class Assembler:
    def __init__(self, *, max_conversations: int = 10_000, max_traces: int = 100_000, max_tool_runs: int = 64,
                 track_calls: bool = False) -> None:
        self.max_conversations, self.max_tool_runs, self.track_calls = max_conversations, max_tool_runs, track_calls
        self.identities = Identities(max_traces)
        self.conversations: OrderedDict[str, _Conversation] = OrderedDict()

    def add(self, spans: list[Span]) -> Batch:
        """One batch of spans (any order, any traces) -> the events not emitted before, per span in
        start-time order; spans that cannot be read are skipped and named in ``problems``."""
        out = Batch(spans=len(spans))
        by_id = self.identities.learn(spans)
        inference: list[tuple[Span, Reading]] = []
        for span in sorted(spans, key=_start):
            try:
                reading = read_span(span)
            except SpanError as error:
                out.problems.append(f"span {span.span_id}: {error}")
                continue
            if reading is None:
                continue
            if reading.kind == TOOL and reading.tool is not None:
                self._remember(self._conversation(span, by_id), reading.tool)
            elif reading.kind == INFERENCE and reading.messages:
                inference.append((span, reading))
        for span, reading in inference:
            try:
                out.events += self._emit(span, reading, by_id)
            except SpanError as error:
                out.problems.append(f"span {span.span_id}: {error}")
        return out

    def conversation_ids(self) -> list[str]:
        return list(self.conversations)

    # -- internals -------------------------------------------------------------------------
    def _emit(self, span: Span, reading: Reading, by_id: dict[str, Span]) -> list[Event]:
        key = self.identities.conversation(span, by_id)
        conversation = self._get(key, span)
        turns = [i for i, message in enumerate(reading.messages) if message["role"] not in SYSTEM_ROLES]
        if len(turns) <= conversation.converted:
            return []  # a history this assembler converted already (a repeat, or an older span)
        start = turns[conversation.converted] if conversation.converted else 0
        common = conversation.common or self.identities.common(span, by_id)
        events = events_of(key, common, reading, f"span {span.span_id}", start=start,
                           first_seq=conversation.sent, call_names=conversation.call_names)
        trace = {"otel_trace_id": span.trace_id, "otel_span_id": span.span_id}  # where the message arrived
        for event in events:  # the exporter answers in this trace (streams/otlp_http/export.py)
            event.attributes = {**event.attributes, **trace}
        new = [_joined(event, conversation.runs) for event in events]
        conversation.sent += len(events)
        conversation.converted, conversation.inferred = len(turns), True
        conversation.common = conversation.common or common
        while len(conversation.call_names) > MAX_NAMES:
            del conversation.call_names[next(iter(conversation.call_names))]
        if self.track_calls:
            conversation.calls.update(e.call_id for e in new if isinstance(e, ToolCall))
            conversation.answered.update(e.call_id for e in new if isinstance(e, ToolResult))
        return new

    def _conversation(self, span: Span, by_id: dict[str, Span]) -> _Conversation:
        conversation = self._get(self.identities.conversation(span, by_id), span)
        conversation.tool_common = conversation.tool_common or self.identities.common(span, by_id)
        return conversation

    def _get(self, key: str, span: Span) -> _Conversation:
        conversation = self.conversations.get(key)
        if conversation is None:
            conversation = self.conversations[key] = _Conversation(first_ns=span.start_ns)
            if len(self.conversations) > self.max_conversations:
                self.conversations.popitem(last=False)
        else:
            self.conversations.move_to_end(key)
            conversation.first_ns = min(conversation.first_ns, span.start_ns) or span.start_ns
        return conversation

    def _remember(self, conversation: _Conversation, run: ToolRun) -> None:
        key = run.call_id or f"#{len(conversation.runs)}"
        conversation.runs[key] = run
        conversation.runs.move_to_end(key)
        if len(conversation.runs) > self.max_tool_runs:
            conversation.runs.popitem(last=False)

    def unanswered(self, key: str) -> list[Event]:
        """Whole-file assembly: the tool runs of conversation ``key`` that no span's history
        answered, as events after its last one (a ToolCall first when no span showed the call;
        runs without a call id only when no inference span gave events)."""
        conversation = self.conversations[key]
        runs = sorted((r for r in conversation.runs.values()
                       if r.call_id not in conversation.answered and (r.call_id or not conversation.inferred)),
                      key=lambda r: r.ts or 0.0)
        out: list[Event] = []
        common: dict[str, Any] = dict(conversation.common or conversation.tool_common)
        for run in runs:
            if run.call_id not in conversation.calls or not run.call_id:
                out.append(ToolCall(trajectory_id=key, seq=conversation.sent + len(out), ts=run.ts, tool=run.name,
                                    call_id=run.call_id, arguments=run.arguments, **common))
            result = ToolResult(trajectory_id=key, seq=conversation.sent + len(out), ts=run.ts, tool=run.name,
                                call_id=run.call_id, result=run.result, **common)
            out.append(_joined(result, {run.call_id: run}))
        return out


def assemble(spans: list[Span]) -> list[Trajectory]:
    """Whole input (a file): every conversation's trajectory, in order of its first span."""
    assembler = Assembler(max_conversations=1 << 62, max_traces=1 << 62, max_tool_runs=1 << 62, track_calls=True)
    batch = assembler.add(spans)
    if batch.problems:
        raise SpanError("; ".join(batch.problems[:5]) + (f" (and {len(batch.problems) - 5} more)"
                                                           if len(batch.problems) > 5 else ""))
    by_key: dict[str, list[Event]] = {}
    for event in batch.events:
        by_key.setdefault(event.trajectory_id, []).append(event)
    order = sorted(assembler.conversations.items(), key=lambda item: item[1].first_ns)
    out = []
    for key, _ in order:
        events = by_key.get(key, []) + assembler.unanswered(key)
        if events:
            out.append(Trajectory(id=key, events=events))
    return out


def _joined(event: Event, runs: OrderedDict[str, ToolRun] | dict[str, ToolRun]) -> Event:
    """A ToolResult answering a failed tool run, marked as failed (``is_error``, the error type)."""
    if not isinstance(event, ToolResult) or not event.call_id:
        return event
    run = runs.get(event.call_id)
    if run is None or not run.failed:
        return event
    attributes = {**event.attributes, **({"otel_error_type": run.error_type} if run.error_type else {})}
    return msgspec.structs.replace(event, is_error=True, attributes=attributes)


def _start(span: Span) -> tuple[int, str]:
    return span.start_ns, span.span_id
