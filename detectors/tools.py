"""Tool-call helpers shared by the session and the execution detectors."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from detectors.execution.classify import DEFAULT_CLASSIFIER
from detectors.model import ToolResult

_encoder = msgspec.json.Encoder(order="sorted")


def canonical_arguments(arguments: Any) -> Any:
    """Arguments as a JSON value: OpenAI's JSON-in-a-string is parsed, other strings kept."""
    if isinstance(arguments, (str, bytes)):  # a tuple: `str | bytes` builds a union on each call
        text = arguments.strip()
        if text[:1] in ("{", "[") if isinstance(text, str) else text[:1] in (b"{", b"["):
            try:
                return msgspec.json.decode(text)
            except msgspec.DecodeError:
                return arguments
    return arguments


def args_key(arguments: Any) -> str:
    """Key-order-insensitive identity of a call's arguments (compact JSON, sorted keys)."""
    value = canonical_arguments(arguments)
    if value is None:
        return ""
    try:
        return _encoder.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return repr(value)


def result_is_error(event: ToolResult) -> bool:
    """The producer's verdict when it gave one, else the status code (HTTP >= 400, or a non-zero
    exit code), else a JSON error object, else an error-shaped text (see execution/classify.py).

    Shares the failure/exhaustion detectors' classification (computed once per event)."""
    return DEFAULT_CLASSIFIER.classify(event) is not None


MAX_EMPTY_CHARS = 300  # longer results carry something: never "empty"
_NO_RESULTS = re.compile(
    r"(?:no\s+(?:[\w-]+\s+){0,3}(?:found|available|matching|matched|matches|results?|records?)"
    r"|(?:nothing|none)\s+(?:was\s+)?found|0\s+(?:results?|matches|records?)(?:\s+found)?"
    r"|(?:[\w-]+\s+){0,3}not\s+found)\b",
    re.IGNORECASE,
)


def _blank(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_blank_leaf(v) for v in value.values())
    return _blank_leaf(value)


def _blank_leaf(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def result_is_empty(event: ToolResult) -> bool:
    """A successful-looking result with nothing in it: ``[]``, ``{}``, ``{"flights": []}``, or a short
    "no flights found" / "not found" text. A blank result is NOT empty (tools such as ``think``
    return nothing by design), and neither is any longer text."""
    text = event.result.strip()
    if not text or len(text) > MAX_EMPTY_CHARS:
        return False
    if text[0] in "[{":
        try:
            return _blank(msgspec.json.decode(text))
        except msgspec.DecodeError:
            return False
    return _NO_RESULTS.match(text) is not None


def result_is_unhelpful(event: ToolResult) -> bool:
    """Nothing useful came back: an error, or an empty result."""
    return result_is_error(event) or result_is_empty(event)
