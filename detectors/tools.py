"""Tool-call helpers shared by the session and the execution detectors."""

from __future__ import annotations

from typing import Any

import msgspec

from detectors.model import ToolResult

_encoder = msgspec.json.Encoder(order="sorted")
_ERROR_PREFIXES = ("error", "exception", "traceback", "fatal", "failed", "failure")


def canonical_arguments(arguments: Any) -> Any:
    """Arguments as a JSON value: OpenAI's JSON-in-a-string is parsed, other strings kept."""
    if isinstance(arguments, str | bytes):
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
    """The producer's verdict when it gave one, else the status code, else an error-shaped text."""
    if event.is_error is not None:
        return event.is_error
    if event.status_code is not None:
        return event.status_code >= 400
    head = event.result.lstrip()[:12].lower()
    return head.startswith(_ERROR_PREFIXES) or head.startswith('{"error"')
