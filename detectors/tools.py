"""Tool-call helpers shared by the session and the execution detectors."""

from __future__ import annotations

from typing import Any

import msgspec

from detectors.execution.classify import DEFAULT_CLASSIFIER
from detectors.model import ToolResult

_encoder = msgspec.json.Encoder(order="sorted")


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
    """The producer's verdict when it gave one, else the status code (HTTP >= 400, or a non-zero
    exit code), else a JSON error object, else an error-shaped text (see execution/classify.py).

    Shares the failure/exhaustion detectors' classification (computed once per event)."""
    return DEFAULT_CLASSIFIER.classify(event) is not None
