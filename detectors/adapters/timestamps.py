"""Message timestamps (ISO 8601 text, epoch seconds or epoch milliseconds) -> Unix seconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

EPOCH_MS_ABOVE = 1e11  # a number larger than this is milliseconds (1e11 s is the year 5138)


def parse_ts(value: Any) -> float | None:
    """Unix seconds, or None when ``value`` is None; ValueError when it is not a timestamp."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_number(float(value))
    if isinstance(value, str):
        return _from_text(value.strip())
    raise ValueError(f"not a timestamp: {value!r}")


def first_ts(*candidates: Any) -> float | None:
    """The first candidate that is set (``timestamp``, ``created_at``, ``ts``), parsed."""
    for value in candidates:
        if value is not None:
            return parse_ts(value)
    return None


def _from_number(number: float) -> float:
    return number / 1000.0 if number > EPOCH_MS_ABOVE else number


def _from_text(text: str) -> float:
    try:
        return _from_number(float(text))
    except ValueError:
        pass
    moment = datetime.fromisoformat(text)  # ValueError names the text when it is not ISO 8601
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # naive times are read as UTC
    return moment.timestamp()
