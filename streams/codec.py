"""Kafka message bytes <-> events and output records. Pure: no Faust, no I/O, no rendering.

An input message value is one event JSON object, or a JSON array of events of ONE trajectory
(a batched envelope). ``decode`` returns the events, or a ``Rejected`` naming why the message
belongs in the dead-letter queue. A message with the header ``x-signals-control: tick`` is the
worker's own idle tick (empty value, sent onto a quiet partition): not input, never rejected;
``decode_message`` (value, key and headers) returns ``TICK`` for it, so every reader of the events
topic (the worker, its events sink, replay) tells ticks from bad input the same way.
"""

from __future__ import annotations

from typing import Any

import msgspec

from detectors.model import Event, Signal, TrajectoryReport

# Rejection reasons (the `x-error-reason` header and the rejected_total{reason} label).
EMPTY, ENCODING, JSON, SCHEMA, OVERSIZE, MIXED, KEY = (
    "empty", "encoding", "json", "schema", "oversize", "mixed_trajectories", "key_mismatch")
# ... and of the OTLP topic's records (streams/otlp.py): unreadable, or some of its spans unreadable
OTLP, OTLP_SPANS = "otlp", "otlp_spans"
REASONS = (EMPTY, ENCODING, JSON, SCHEMA, OVERSIZE, MIXED, KEY, OTLP, OTLP_SPANS)
MAX_SEQ = (1 << 63) - 1  # larger seqs cannot be stored (msgpack session state, ClickHouse)
CONTROL_HEADER = "x-signals-control"
TICK = b"tick"
TICK_HEADERS: list[tuple[str, bytes]] = [(CONTROL_HEADER, TICK)]
Headers = Any  # aiokafka and Faust give a sequence of (str, bytes) pairs, or None


class Rejected(msgspec.Struct, frozen=True):
    reason: str
    detail: str = ""


class Tick(msgspec.Struct, frozen=True):
    """The worker's idle tick (see the module docstring)."""


Decoded = list[Event] | Rejected
TICK_MESSAGE = Tick()

_event_decoder = msgspec.json.Decoder(list[Event] | Event)
_encoder = msgspec.json.Encoder()
_state_encoder = msgspec.msgpack.Encoder()  # what session state stores events with
STORABLE_INTS = (-(1 << 63), (1 << 64) - 1)  # what msgpack (session state) can hold


def decode(value: bytes | None, key: bytes | str | None = None, *, max_bytes: int = 1 << 20) -> Decoded:
    """Message value (and optional key) -> the events it carries, or why it is rejected."""
    if not value:
        return Rejected(EMPTY, "message value is empty")
    if len(value) > max_bytes:
        return Rejected(OVERSIZE, f"{len(value)} bytes > limit {max_bytes}")
    if not value.isascii() and (problem := _utf8_problem(value)):
        return Rejected(ENCODING, problem)
    try:
        decoded = _event_decoder.decode(value)
    except msgspec.ValidationError as error:
        return Rejected(SCHEMA, str(error))
    except msgspec.DecodeError as error:
        return Rejected(JSON, str(error))
    except RecursionError:  # msgspec's decoder raises it for very deep nesting, e.g. [[[[...]]]]
        return Rejected(JSON, "JSON nested too deeply")
    events = decoded if isinstance(decoded, list) else [decoded]
    return _check_seqs(events, isinstance(decoded, list)) or _check_storable(events) or _check_ids(events, key)


def is_tick(headers: Headers) -> bool:
    return any(k == CONTROL_HEADER and v == TICK for k, v in headers or ())


def decode_message(value: bytes | None, key: bytes | str | None, headers: Headers, *,
                   max_bytes: int = 1 << 20) -> Decoded | Tick:
    """A whole input message: ``TICK_MESSAGE`` for an idle tick, else ``decode(value, key)``."""
    if headers and is_tick(headers):
        return TICK_MESSAGE
    return decode(value, key, max_bytes=max_bytes)


def dlq_headers(rejected: Rejected, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    """The ``x-error-*`` / ``x-source-*`` headers of a rejected message sent to the DLQ."""
    return [("x-error-reason", rejected.reason.encode()),
            ("x-error-detail", rejected.detail.encode("utf-8", "replace")[:1000]),
            ("x-source-topic", topic.encode()),
            ("x-source-partition", str(partition).encode()),
            ("x-source-offset", str(offset).encode())]


def _check_seqs(events: list[Event], envelope: bool) -> Rejected | None:
    for position, event in enumerate(events):
        if not 0 <= event.seq <= MAX_SEQ:
            path = f"$[{position}].seq" if envelope else "$.seq"
            return Rejected(SCHEMA, f"seq {event.seq} outside [0, 2**63 - 1] - at `{path}`")
    return None


def _check_storable(events: list[Event]) -> Rejected | None:
    """An integer beyond 64 bits (``status_code``, or inside ``attributes`` / ``arguments``, the free
    JSON fields) cannot be stored in the session state: reject it here rather than fail on every
    redelivery later. Only events with free JSON are encoded to check."""
    low, high = STORABLE_INTS
    for event in events:
        code = getattr(event, "status_code", None)
        if code is not None and not low <= code <= high:
            return _TOO_BIG
        arguments = getattr(event, "arguments", None)
        if event.attributes or arguments is not None:
            try:
                _state_encoder.encode((event.attributes, arguments))
            except OverflowError:
                return _TOO_BIG
    return None


_TOO_BIG = Rejected(SCHEMA, "an integer outside [-2**63, 2**64 - 1] cannot be stored")


def _utf8_problem(value: bytes) -> str:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"not UTF-8: {error.reason} at byte {error.start}"
    return ""


def _check_ids(events: list[Event], key: bytes | str | None) -> Decoded:
    if not events:
        return Rejected(SCHEMA, "empty event array")
    first = events[0].trajectory_id
    if any(e.trajectory_id != first for e in events):
        ids = sorted({e.trajectory_id for e in events})[:3]
        return Rejected(MIXED, f"one envelope must carry one trajectory, got {ids}")
    if key is not None:
        text_key = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
        if text_key != first:
            return Rejected(KEY, f"message key {text_key!r} != trajectory_id {first!r}")
    return events


# ---------------------------------------------------------------------------- output records


class SignalRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One line on the signals topic: the signal plus where it came from."""

    trajectory_id: str
    pipeline_version: str
    type: str
    index: int
    confidence: float = 1.0
    snippet: str = ""
    tool: str = ""
    metadata: dict[str, Any] = {}
    agent_id: str = ""
    ts: float | None = None  # event time: the trajectory's latest event time when the signal was produced


def encode_signal(trajectory_id: str, signal: Signal, *, pipeline_version: str, agent_id: str = "",
                  ts: float | None = None) -> bytes:
    record = SignalRecord(
        trajectory_id=trajectory_id, pipeline_version=pipeline_version, type=signal.type,
        index=signal.index, confidence=signal.confidence, snippet=signal.snippet, tool=signal.tool,
        metadata=signal.metadata, agent_id=agent_id, ts=ts)
    return _encoder.encode(record)


def encode_report(report: TrajectoryReport) -> bytes:
    """The trajectory record on the trajectories topic: the published report schema
    (``detectors.model.TrajectoryReport``, `signals schema report`), every field."""
    return _encoder.encode(report)


def encode_events(events: list[Event]) -> bytes:
    """Events of one trajectory -> one message value (a single object when there is one event)."""
    return _encoder.encode(events[0] if len(events) == 1 else events)
