"""OTLP protobuf (``TracesData`` / ``ExportTraceServiceRequest``, wire-identical) -> spans, through
the official ``opentelemetry-proto`` classes."""

from __future__ import annotations

import base64
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from detectors.adapters.otel.spans import MAX_DEPTH, Span, SpanError, SpanEvent, check_ids


def decode_proto(payload: bytes) -> list[Span]:
    data = TracesData()
    try:
        data.ParseFromString(payload)
    except (DecodeError, RecursionError) as error:
        raise SpanError(f"not an OTLP TracesData protobuf: {error}") from None
    out: list[Span] = []
    for r, resource_spans in enumerate(data.resource_spans):
        resource = attributes(resource_spans.resource.attributes)
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            scope = scope_spans.scope.name
            for n, span in enumerate(scope_spans.spans):
                out.append(_span(span, resource, scope, f"resourceSpans[{r}].scopeSpans[{s}].spans[{n}]"))
    return out


def _span(span: Any, resource: dict[str, Any], scope: str, where: str) -> Span:
    trace_id, span_id = span.trace_id.hex(), span.span_id.hex()
    check_ids(trace_id, span_id, where)
    return Span(
        trace_id=trace_id, span_id=span_id, name=span.name, parent_id=span.parent_span_id.hex(),
        kind=span.kind, start_ns=span.start_time_unix_nano, end_ns=span.end_time_unix_nano,
        status_code=span.status.code, status_message=span.status.message,
        attributes=attributes(span.attributes),
        events=[SpanEvent(e.name, e.time_unix_nano, attributes(e.attributes)) for e in span.events],
        resource=resource, scope=scope)


def attributes(pairs: Any, depth: int = 0) -> dict[str, Any]:
    return {pair.key: value(pair.value, depth) for pair in pairs}


def value(any_value: Any, depth: int = 0) -> Any:
    kind = any_value.WhichOneof("value")
    if kind is None or depth >= MAX_DEPTH:
        return None
    if kind == "array_value":
        return [value(item, depth + 1) for item in any_value.array_value.values]
    if kind == "kvlist_value":
        return attributes(any_value.kvlist_value.values, depth + 1)
    if kind == "bytes_value":
        return base64.b64encode(any_value.bytes_value).decode()
    return getattr(any_value, kind)
