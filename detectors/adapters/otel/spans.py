"""One decoded span, whatever the wire: hex ids, plain Python attribute values, its resource.

Attribute values are what OTLP's ``AnyValue`` holds, as Python: str, bool, int, float, list
(``arrayValue``), dict (``kvlistValue``), or the base64 text of ``bytesValue``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
MAX_DEPTH = 32  # nested arrayValue/kvlistValue levels read; deeper values are cut to None


class SpanError(ValueError):
    """An OTLP payload or span that cannot be read. ``reason`` is short (the DLQ reason detail)."""


@dataclass(slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass(slots=True)
class Span:
    trace_id: str  # 32 lower-case hex characters
    span_id: str  # 16 lower-case hex characters
    name: str = ""
    parent_id: str = ""
    kind: int = 0
    start_ns: int = 0
    end_ns: int = 0
    status_code: int = STATUS_UNSET
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""

    def attr(self, *names: str) -> Any:
        """The first of ``names`` set on the span, else on its resource, else None."""
        for source in (self.attributes, self.resource):
            for name in names:
                value = source.get(name)
                if value not in (None, ""):
                    return value
        return None

    @property
    def start_s(self) -> float | None:
        return self.start_ns / 1e9 if self.start_ns else None

    @property
    def end_s(self) -> float | None:
        return self.end_ns / 1e9 if self.end_ns else self.start_s


def check_ids(trace_id: str, span_id: str, where: str) -> None:
    """A span needs a trace id of 16 bytes and a span id of 8 (not all zero: the spec's 'invalid')."""
    if len(trace_id) != 32 or trace_id == "0" * 32:
        raise SpanError(f"{where}: trace id {trace_id[:40]!r} is not 16 bytes of hex (or is all zero)")
    if len(span_id) != 16 or span_id == "0" * 16:
        raise SpanError(f"{where}: span id {span_id[:40]!r} is not 8 bytes of hex (or is all zero)")
