"""Our own events (``detectors.model.Event``, tagged on ``kind``) -> trajectories.

A record is one event object or a batched envelope (an array of events). Events are grouped by
``trajectory_id`` in order of first appearance and sorted by ``seq`` (stable; duplicates are kept,
the session drops them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import msgspec

from detectors.adapters.base import AdapterError, Trajectory
from detectors.model import Event

EXPECTED: Final = "signals events: objects with `kind` and `trajectory_id` (see `signals schema events`)"


def decode_events(record: Any, where: str) -> list[Event]:
    """One event object or an envelope array -> events; a field error names its JSON path."""
    try:
        if isinstance(record, list):
            return msgspec.convert(record, list[Event])
        return [msgspec.convert(record, Event)]
    except msgspec.ValidationError as error:
        raise AdapterError(f"an event that does not fit: {error}", where=where, expected=EXPECTED,
                           fix="check the event against `signals schema events`") from None


def group(events: Iterable[Event]) -> list[Trajectory]:
    """Trajectories in first-appearance order, each sorted by seq."""
    by_id: dict[str, list[Event]] = {}
    for event in events:
        by_id.setdefault(event.trajectory_id, []).append(event)
    return [Trajectory(id=key, events=sorted(found, key=_seq)) for key, found in by_id.items()]


def _seq(event: Event) -> int:
    return event.seq
