"""OTLP/JSON ids are hex; protobuf's JSON mapping reads and writes bytes fields as base64. These
convert the id fields of a TracesData dict between the two (nothing else in a span is bytes but
``bytesValue`` attribute values, which OTLP/JSON does write as base64)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

SPAN_IDS = ("traceId", "spanId", "parentSpanId")
LINK_IDS = ("traceId", "spanId")


class BadId(ValueError):
    pass


def hex_to_b64(value: Any) -> str:
    if not isinstance(value, str):
        raise BadId(f"id {str(value)[:40]!r} is not a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise BadId(f"id {value[:40]!r} is not hex") from None
    return base64.b64encode(raw).decode()


def b64_to_hex(value: Any) -> str:
    try:
        return base64.b64decode(str(value), validate=True).hex()
    except (binascii.Error, ValueError):
        raise BadId(f"id {str(value)[:40]!r} is not base64") from None


def convert_span(span: dict[str, Any], convert: Callable[[Any], str]) -> dict[str, Any]:
    """A copy of one span dict with its ids (and its links' ids) converted."""
    out = dict(span)
    for name in SPAN_IDS:
        if out.get(name):
            out[name] = convert(out[name])
    links = out.get("links")
    if isinstance(links, list):
        out["links"] = [_link(link, convert) for link in links]
    return out


def _link(link: Any, convert: Callable[[Any], str]) -> Any:
    if not isinstance(link, dict):
        return link
    out = dict(link)
    for name in LINK_IDS:
        if out.get(name):
            out[name] = convert(out[name])
    return out
