"""Adapter output type and error."""

from __future__ import annotations

from typing import Any

import msgspec

from detectors.model import Event


class Trajectory(msgspec.Struct, kw_only=True):
    id: str
    events: list[Event]
    labels: dict[str, Any] = {}


class AdapterError(ValueError):
    """Input matched no accepted format, or a record is malformed. Says what, where, and the fix."""
