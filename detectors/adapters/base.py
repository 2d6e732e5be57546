"""Adapter output type and error, and the text that names the accepted formats."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from detectors.model import Event

FORMATS: Final = (
    "one of: τ-bench results (objects with `task_id` and `traj`); "
    "OpenAI chat (a list of messages with `role`, or an object with `messages` holding them); "
    "ShareGPT (an object with `conversations` or `messages` holding {from, value} rows); "
    "signals events (objects with `kind` and `trajectory_id`, see `signals schema events`); "
    "OpenTelemetry traces (OTLP/JSON objects with `resourceSpans`) — "
    "as a JSON array, a single JSON object, or JSONL (one JSON value per line)"
)
FIX: Final = "convert the file to one of the accepted formats, or check that the path is the file you meant"


class Trajectory(msgspec.Struct, kw_only=True):
    id: str
    events: list[Event]
    labels: dict[str, Any] = {}


class AdapterError(ValueError):
    """Input matched no accepted format, or a record is malformed. Says what, where, and the fix."""

    def __init__(self, got: str, *, where: str = "", expected: str = FORMATS, fix: str = FIX) -> None:
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}expected {expected}; got {got}. Fix: {fix}")
        self.got, self.where, self.expected, self.fix = got, where, expected, fix


def describe(value: Any) -> str:
    """What arrived, in words: ``a JSON object with keys ['foo', 'bar']``."""
    if isinstance(value, dict):
        return f"a JSON object with keys {sorted(value)[:12]!r}"
    if isinstance(value, list):
        return f"a JSON array of {len(value)} items" + (f", the first {describe(value[0])}" if value else "")
    return f"a JSON {type(value).__name__} ({value!r:.60})"
