"""What one span says, whatever its convention: a ``Reading``. The shapes (``genai``, ``legacy``,
``openinference``) fill it; ``convert`` turns its messages into events.

- ``messages``: the span's history as OpenAI chat messages (``role``, ``content``, ``tool_calls``,
  ``tool_call_id``, ``name``) with a ``timestamp``: the input history first, then the output.
  Position in this list is stable across the spans that repeat the history.
- ``extras``: message position -> attributes for the first event that message makes (unknown
  part types, reasoning), since our events have no field for them;
- ``tool``: an ``execute_tool`` / TOOL span's run (call id, name, arguments, result, failure).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import msgspec

from detectors.adapters.otel.spans import STATUS_ERROR, Span, SpanError

MAX_MESSAGES: Final = 10_000  # messages read from one span's history (an index above is refused)
MAX_TEXT: Final = 16 << 20  # characters of one JSON attribute parsed as messages (a long history)
INFERENCE, TOOL, AGENT = "inference", "tool", "agent"

_json: Final = msgspec.json.Decoder()
_encode: Final = msgspec.json.Encoder()


@dataclass(slots=True)
class ToolRun:
    call_id: str
    name: str
    arguments: Any = None
    result: str = ""
    failed: bool = False
    error_type: str = ""
    ts: float | None = None


@dataclass(slots=True)
class Reading:
    kind: str  # INFERENCE, TOOL or AGENT (identity only)
    shape: str  # "genai", "legacy" or "openinference"
    messages: list[dict[str, Any]] = field(default_factory=list)
    extras: dict[int, dict[str, Any]] = field(default_factory=dict)
    tool: ToolRun | None = None


class Shape(Protocol):
    """One convention: does a span use it, and what does it say."""

    name: str

    def matches(self, span: Span) -> bool: ...

    def read(self, span: Span) -> Reading | None: ...  # None: nothing we use (e.g. embeddings)


# ----------------------------------------------------------------------------- helpers


def parse_json_value(value: Any, what: str) -> Any:
    """A structured attribute value as is; a JSON string parsed (SpanError when it is not JSON)."""
    if not isinstance(value, str):
        return value
    if len(value) > MAX_TEXT:
        raise SpanError(f"{what}: {len(value)} characters of JSON > {MAX_TEXT}")
    try:
        return _json.decode(value)
    except (msgspec.DecodeError, RecursionError) as error:
        raise SpanError(f"{what}: invalid JSON ({str(error)[:120]})") from None


def as_text(value: Any) -> str:
    """Text as is; anything else (a tool's structured response) as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return _encode.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return str(value)


def failed(span: Span) -> bool:
    return span.status_code == STATUS_ERROR or bool(span.attributes.get("error.type"))


def error_type(span: Span) -> str:
    found = span.attributes.get("error.type")
    if found:
        return str(found)
    for event in span.events:
        if event.name == "exception" and event.attributes.get("exception.type"):
            return str(event.attributes["exception.type"])
    return ""


def indexed(attributes: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """``prefix.N.rest`` keys -> one dict of ``rest`` -> value per N, in N order (N <= MAX_MESSAGES)."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d{1,9})\.(.+)")
    rows: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        if not key.startswith(prefix):
            continue
        match = pattern.fullmatch(key)
        if match is None:
            continue
        position = int(match.group(1))
        if position >= MAX_MESSAGES:
            raise SpanError(f"{key}: index above {MAX_MESSAGES - 1}")
        rows.setdefault(position, {})[match.group(2)] = value
    return [rows[n] for n in sorted(rows)]


def tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    """An OpenAI ``tool_calls`` entry (ids stripped: spec examples write ``" call_…"``)."""
    return {"id": str(call_id or "").strip(), "type": "function",
            "function": {"name": str(name or ""), "arguments": arguments}}


def message(role: str, content: str, ts: float | None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"role": role, "content": content, "timestamp": ts}
    out.update({k: v for k, v in extra.items() if v not in (None, "", [])})
    return out
