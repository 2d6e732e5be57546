"""OTLP/JSON -> spans, by our own code: the spec's JSON has HEX trace and span ids (protobuf's
``json_format`` reads them as base64 and silently garbles them), int64 values as strings (or
numbers), enums as integers, and ``kvlistValue``/``arrayValue`` for structured attribute values.
Field names are lowerCamelCase; the snake_case forms are accepted too (the spec allows both)."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from detectors.adapters.otel.spans import MAX_DEPTH, Span, SpanError, SpanEvent, check_ids

_decoder = msgspec.json.Decoder()
_HEX = re.compile(r"[0-9a-fA-F]*")
_KINDS = {f"SPAN_KIND_{name}": n for n, name in enumerate(
    ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"))}
_CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_SCALARS: dict[str, type] = {"stringValue": str, "string_value": str, "boolValue": bool, "bool_value": bool}


def decode_json(payload: bytes) -> list[Span]:
    try:
        document = _decoder.decode(payload)
    except msgspec.DecodeError as error:
        raise SpanError(f"not OTLP/JSON: {error}") from None
    except RecursionError:
        raise SpanError("OTLP/JSON nested too deeply") from None
    return spans_of(document)


def spans_of(document: Any) -> list[Span]:
    """A decoded ``{"resourceSpans": [...]}`` object -> its spans."""
    if not isinstance(document, dict) or not isinstance(_get(document, "resourceSpans", []), list):
        raise SpanError("OTLP/JSON: expected an object with a `resourceSpans` array")
    out: list[Span] = []
    for r, resource_spans in enumerate(_list(document, "resourceSpans")):
        resource = attributes(_list(_dict(resource_spans, "resource"), "attributes"))
        for s, scope_spans in enumerate(_list(resource_spans, "scopeSpans")):
            scope = str(_dict(scope_spans, "scope").get("name", ""))
            for n, span in enumerate(_list(scope_spans, "spans")):
                out.append(_span(span, resource, scope, f"resourceSpans[{r}].scopeSpans[{s}].spans[{n}]"))
    return out


def _span(raw: Any, resource: dict[str, Any], scope: str, where: str) -> Span:
    if not isinstance(raw, dict):
        raise SpanError(f"{where}: a span is not an object")
    trace_id, span_id = hex_id(raw, "traceId", where), hex_id(raw, "spanId", where)
    check_ids(trace_id, span_id, where)
    status = _dict(raw, "status")
    return Span(
        trace_id=trace_id, span_id=span_id, name=str(raw.get("name", "")),
        parent_id=hex_id(raw, "parentSpanId", where), kind=_enum(_get(raw, "kind", 0), _KINDS, where),
        start_ns=_int(_get(raw, "startTimeUnixNano", 0), where), end_ns=_int(_get(raw, "endTimeUnixNano", 0), where),
        status_code=_enum(status.get("code", 0), _CODES, where), status_message=str(status.get("message", "")),
        attributes=attributes(_list(raw, "attributes")),
        events=[SpanEvent(str(e.get("name", "")), _int(_get(e, "timeUnixNano", 0), where),
                          attributes(_list(e, "attributes")))
                for e in _list(raw, "events") if isinstance(e, dict)],
        resource=resource, scope=scope)


def hex_id(raw: dict[str, Any], name: str, where: str) -> str:
    text = _get(raw, name, "")
    if not isinstance(text, str) or not _HEX.fullmatch(text) or len(text) % 2:
        raise SpanError(f"{where}: {name} {str(text)[:40]!r} is not hex (OTLP/JSON ids are hex, not base64)")
    return text.lower()


def attributes(pairs: list[Any], depth: int = 0) -> dict[str, Any]:
    return {str(p["key"]): value(p.get("value"), depth) for p in pairs if isinstance(p, dict) and "key" in p}


def value(raw: Any, depth: int = 0) -> Any:
    if not isinstance(raw, dict) or depth >= MAX_DEPTH:
        return None
    for name, held in raw.items():
        if name in _SCALARS:
            return held if isinstance(held, _SCALARS[name]) else None
        if name in ("intValue", "int_value"):
            return _int(held, "intValue", strict=False)
        if name in ("doubleValue", "double_value"):
            return _float(held)
        if name in ("arrayValue", "array_value"):
            return [value(v, depth + 1) for v in _list(held, "values")]
        if name in ("kvlistValue", "kvlist_value"):
            return attributes(_list(held, "values"), depth + 1)
        if name in ("bytesValue", "bytes_value"):
            return str(held)
    return None


def _enum(raw: Any, names: dict[str, int], where: str) -> Any:
    """Enums are integers in OTLP/JSON; their names (what protobuf's own JSON writes) are accepted."""
    return names[raw] if isinstance(raw, str) and raw in names else _int(raw, where)


def _int(raw: Any, where: str, *, strict: bool = True) -> Any:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"-?\d{1,20}", raw):
        return int(raw)
    if strict:
        raise SpanError(f"{where}: {raw!r:.40} is not an integer (int64 values are decimal strings)")
    return None


def _float(raw: Any) -> float | None:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if raw in ("NaN", "Infinity", "-Infinity"):
        return float(raw.replace("Infinity", "inf"))
    return None


def _get(raw: dict[str, Any], camel: str, default: Any) -> Any:
    """A field by its lowerCamelCase name, else its snake_case name."""
    if camel in raw:
        return raw[camel]
    return raw.get(re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower(), default)


def _list(raw: Any, camel: str) -> list[Any]:
    found = _get(raw, camel, []) if isinstance(raw, dict) else []
    return found if isinstance(found, list) else []


def _dict(raw: Any, camel: str) -> dict[str, Any]:
    found = _get(raw, camel, {}) if isinstance(raw, dict) else {}
    return found if isinstance(found, dict) else {}
