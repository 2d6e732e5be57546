"""OpenTelemetry traces -> our events (issue 12, the input half). See docs/otel.md.

Entry points:
- ``decode(payload, encoding) -> list[Span]``: one OTLP ``TracesData`` (= ``ExportTraceServiceRequest``)
  as ``otlp_proto`` bytes or ``otlp_json`` text; raises ``SpanError`` naming what is wrong;
- ``Assembler().add(spans) -> Batch``: streaming assembly with bounded state (events keyed by
  trajectory id = conversation id, each message once per assembler, ``problems`` per bad span);
- ``assemble(spans) -> list[Trajectory]``: a whole input (a file) at once;
- ``read_span(span)``: what one span says (``Reading``), by the first matching shape
  (``openinference``, ``genai``, ``legacy``).
"""

from __future__ import annotations

from typing import Final

from detectors.adapters.otel.assemble import Assembler, Batch, assemble, read_span
from detectors.adapters.otel.spans import Span, SpanError, SpanEvent
from detectors.adapters.otel.wire_json import decode_json, spans_of
from detectors.adapters.otel.wire_proto import decode_proto

ENCODINGS: Final = ("otlp_proto", "otlp_json")


def decode(payload: bytes, encoding: str = "otlp_proto") -> list[Span]:
    if encoding == "otlp_proto":
        return decode_proto(payload)
    if encoding == "otlp_json":
        return decode_json(payload)
    raise SpanError(f"unknown OTLP encoding {encoding!r} (known: {', '.join(ENCODINGS)})")


__all__ = ["ENCODINGS", "Assembler", "Batch", "Span", "SpanError", "SpanEvent", "assemble", "decode",
           "read_span", "spans_of"]
