"""Incremental per-trajectory state: ``feed(event) -> new signals``; batch analysis is its fold.

Ordering rules (the same live, in replay and offline):
- events are applied in ``seq`` order; a duplicate (``seq`` already applied) is dropped;
- an event ahead of the next expected ``seq`` waits in a bounded reorder buffer; when the buffer
  is full the gap is given up on and the lowest buffered event is applied (counted in ``gaps``);
- record content depends only on the set of events, never on wall-clock time.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from detectors.base import CallRef, CloseView, Detector, EventView
from detectors.cohort import action_signature
from detectors.features import Features, update_features
from detectors.model import Event, Signal, ToolCall, ToolResult, TrajectoryReport
from detectors.redact import redact_signal
from detectors.registry import DEFAULT_DETECTORS
from detectors.tools import args_key
from detectors.triage import TriageConfig, packaged_config
from detectors.verdict import assess

MAX_OPEN_CALLS = 64  # open tool calls remembered for attribution by call_id
MAX_REORDER = 256  # events held while waiting for a missing seq
MAX_REORDER_BYTES = 4 << 20  # ... and their text payload, so a few huge events cannot bloat the state
MAX_SIGNALS = 500  # signal instances kept in the record (counts stay exact beyond it)


class SessionState(msgspec.Struct, kw_only=True):
    trajectory_id: str
    next_seq: int = 0
    closed: bool = False
    ended: bool = False  # a SessionEnd event has been applied (in seq order): time to close
    gaps: int = 0
    duplicates: int = 0
    meta: dict[str, str] = {}
    features: Features = msgspec.field(default_factory=Features)
    open_calls: dict[str, CallRef] = {}
    last_call: CallRef | None = None
    pending: list[Event] = []  # events ahead of next_seq, sorted by seq
    pending_bytes: int = 0  # their encoded size
    signals: list[Signal] = []
    counts: dict[str, int] = {}
    detectors: Sequence[Any] = ()  # one state struct per detector, in registry order


class Engine:
    """A detector set plus its state codec: build once, share across sessions."""

    def __init__(self, detectors: Iterable[Detector] = DEFAULT_DETECTORS, *,
                 triage: TriageConfig | None = None) -> None:
        self.detectors = tuple(detectors)
        self.triage = triage or packaged_config()  # the weights of the record's triage score
        self.by_kind: dict[str, list[int]] = {}
        for position, detector in enumerate(self.detectors):
            for kind in detector.kinds:
                self.by_kind.setdefault(kind, []).append(position)
        # Decode detector states straight into their types: a subclass whose `detectors` field
        # is the tuple of this engine's state types.
        typed = msgspec.defstruct(
            "TypedSessionState", [("detectors", tuple.__class_getitem__(tuple(d.state_type for d in self.detectors)), ())],
            bases=(SessionState,), kw_only=True)
        self._decoder = msgspec.msgpack.Decoder(typed)
        self._encoder = msgspec.msgpack.Encoder()

    def new_state(self, trajectory_id: str) -> SessionState:
        return SessionState(trajectory_id=trajectory_id, detectors=tuple(d.state_type() for d in self.detectors))

    def encode_state(self, state: SessionState) -> bytes:
        return self._encoder.encode(state)

    def decode_state(self, data: bytes) -> SessionState:
        state = self._decoder.decode(data)
        assert isinstance(state, SessionState)
        return state


DEFAULT_ENGINE = Engine()


class Session:
    """One trajectory's incremental analysis."""

    def __init__(self, trajectory_id: str, *, engine: Engine = DEFAULT_ENGINE, state: SessionState | None = None):
        self.engine = engine
        self.state = state if state is not None else engine.new_state(trajectory_id)

    # -- input ---------------------------------------------------------------------------
    def feed(self, event: Event) -> list[Signal]:
        """Apply one event (in any order); return the signals it (and any freed events) produced."""
        state = self.state
        if event.seq < state.next_seq or (state.pending and any(p.seq == event.seq for p in state.pending)):
            state.duplicates += 1
            return []
        if event.seq > state.next_seq:
            bisect.insort(state.pending, event, key=_seq)
            state.pending_bytes += _size(event)
            if len(state.pending) <= MAX_REORDER and state.pending_bytes <= MAX_REORDER_BYTES:
                return []
            self._give_up_gap()
            out: list[Signal] = []  # the event is buffered: the loop below applies it in order
        else:
            out = self._apply(event)
        while state.pending and state.pending[0].seq == state.next_seq:
            out += self._apply(self._pop_pending())
        return out

    def close(self) -> list[Signal]:
        """Mark the trajectory final; detectors may emit end-of-session signals."""
        state = self.state
        if state.closed:
            return []
        while state.pending:  # missing events will not come: apply what we have
            self._give_up_gap()
            self._apply(self._pop_pending())
        state.closed = True
        features = state.features
        close = CloseView(last_index=state.next_seq - 1, last_ts=features.last_ts, user_turns=features.user_turns)
        out: list[Signal] = []
        for detector, det_state in zip(self.engine.detectors, state.detectors, strict=True):
            out += detector.on_close(det_state, close)
        self._record(out)
        return out

    # -- output --------------------------------------------------------------------------
    def report(self, *, pipeline_version: str = "") -> TrajectoryReport:
        state = self.state
        features = state.features
        verdict = assess(state.counts, features, self.engine.triage)
        return TrajectoryReport(
            id=state.trajectory_id,
            quality=verdict.quality,
            quality_score=verdict.quality_score,
            triage_score=verdict.triage_score,
            signals=list(state.signals),
            counts=dict(state.counts),
            pipeline_version=pipeline_version,
            final=state.closed,
            events=features.events,
            user_turns=features.user_turns,
            assistant_turns=features.assistant_turns,
            tool_calls=features.tool_calls,
            tool_errors=features.tool_errors,
            first_ts=features.first_ts,
            last_ts=features.last_ts,
            features=verdict.features,
            reasons=verdict.reasons,
            task_key=features.task_key,
            request_key=features.request_key,
            context_key=features.context_key,
            action_sig=action_signature(features.actions),
            agent_id=state.meta.get("agent_id", ""),
            app_id=state.meta.get("app_id", ""),
            tenant_id=state.meta.get("tenant_id", ""),
            model=state.meta.get("model", ""),
        )

    # -- internals -----------------------------------------------------------------------
    def _pop_pending(self) -> Event:
        state = self.state
        event = state.pending.pop(0)
        state.pending_bytes -= _size(event)
        return event

    def _give_up_gap(self) -> None:
        """Stop waiting for the missing seqs before the lowest buffered event."""
        state = self.state
        state.gaps += 1
        state.next_seq = state.pending[0].seq

    def _apply(self, event: Event) -> list[Signal]:
        state = self.state
        state.next_seq = event.seq + 1
        if state.features.events == 0:  # identity from the first event only: storage keys never move
            state.meta = _meta(event)
        # Event kinds are compared by tag, not with isinstance: a failing isinstance against a
        # msgspec struct class goes through its metaclass's __instancecheck__ (~300 instructions).
        view = EventView(event)
        kind = view.kind
        view.call = self._attribute(event, kind)
        state.ended = state.ended or kind == "end"
        update_features(state.features, view)
        out: list[Signal] = []
        detectors, det_states = self.engine.detectors, state.detectors
        for position in self.engine.by_kind.get(view.kind, ()):
            out += detectors[position].on_event(det_states[position], view)
        self._record(out)
        return out

    def _attribute(self, event: Event, kind: str) -> CallRef | None:
        state = self.state
        if kind == "tool_call":
            assert isinstance(event, ToolCall)
            ref = CallRef(event.tool, event.seq, args_key(event.arguments))
            state.last_call = ref
            if event.call_id:
                calls = state.open_calls
                if len(calls) >= MAX_OPEN_CALLS:
                    del calls[next(iter(calls))]
                calls[event.call_id] = ref
            return ref
        if kind == "tool_result":
            assert isinstance(event, ToolResult)
            answered = state.open_calls.pop(event.call_id, None) if event.call_id else None
            if answered is not None:
                return answered
            return CallRef(event.tool, -1, "") if event.tool else state.last_call
        return None

    def _record(self, signals: list[Signal]) -> None:
        if not signals:
            return
        signals[:] = [redact_signal(signal) for signal in signals]  # the one place snippets are redacted
        state = self.state
        room = MAX_SIGNALS - len(state.signals)
        if room > 0:
            state.signals += signals[:room]
        counts = state.counts
        for signal in signals:
            counts[signal.type] = counts.get(signal.type, 0) + 1


_event_encoder = msgspec.msgpack.Encoder()


def _seq(event: Event) -> int:
    return event.seq


def _size(event: Event) -> int:
    return len(_event_encoder.encode(event))


def _meta(event: Event) -> dict[str, str]:
    fields = ("agent_id", "app_id", "tenant_id", "model")
    return {name: getattr(event, name) for name in fields if getattr(event, name)}


def analyze(trajectory_id: str, events: Iterable[Event], *, engine: Engine = DEFAULT_ENGINE,
            pipeline_version: str = "", close: bool = True) -> TrajectoryReport:
    """Batch analysis: exactly the fold of ``feed`` over the events, then ``close``."""
    session = Session(trajectory_id, engine=engine)
    for event in events:
        session.feed(event)
    if close:
        session.close()
    return session.report(pipeline_version=pipeline_version)
