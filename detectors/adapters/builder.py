"""Builds one trajectory's event list: seq = position in OUR list, shared producer fields."""

from __future__ import annotations

from typing import Any, Final

from detectors.model import Event

COMMON_FIELDS: Final = ("agent_id", "app_id", "tenant_id", "model")


class EventBuilder:
    """Appends events with ``seq`` 0, 1, 2, ... and the trajectory's common fields."""

    def __init__(self, trajectory_id: str, common: dict[str, str] | None = None, first_seq: int = 0) -> None:
        self.trajectory_id = trajectory_id
        self.common = common or {}
        self.first_seq = first_seq  # > 0: continuing a trajectory whose first events were built before
        self.events: list[Event] = []
        self.first_attributes: dict[str, Any] = {}  # given to the first event (e.g. system prompt size)

    def add(self, cls: type[Event], **fields: Any) -> None:
        if not self.events and self.first_attributes and not self.first_seq:
            fields["attributes"] = {**self.first_attributes, **fields.get("attributes", {})}
        seq = self.first_seq + len(self.events)
        self.events.append(cls(trajectory_id=self.trajectory_id, seq=seq, **{**self.common, **fields}))

    @property
    def last_ts(self) -> float | None:
        return self.events[-1].ts if self.events else None


def common_fields(record: dict[str, Any]) -> dict[str, str]:
    """agent_id/app_id/tenant_id/model from the record's top level, else from its ``metadata``."""
    metadata = record.get("metadata")
    sources = (record, metadata if isinstance(metadata, dict) else {})
    out: dict[str, str] = {}
    for name in COMMON_FIELDS:
        value = next((s[name] for s in sources if isinstance(s.get(name), str)), "")
        if value:
            out[name] = value
    return out


def record_id(record: dict[str, Any], default: str) -> str:
    """The record's own ``id`` (text or number) if it has one, else ``default``."""
    value = record.get("id")
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) and value != "" else default
