"""Published JSON Schemas for producers and consumers, generated from the msgspec model.

The committed files beside this module are what `signals schema NAME` prints; a unit test fails
when the model changes and they were not regenerated:

    signals schema events > detectors/schema/event.schema.json
    signals schema batch  > detectors/schema/batch.schema.json
    signals schema report > detectors/schema/report.schema.json
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from detectors.model import Event, TrajectoryReport

SCHEMA_TYPES: Final[dict[str, Any]] = {
    "events": Event,  # one event (one Kafka message, one JSONL line)
    "batch": list[Event],  # a batched envelope: several events of one trajectory
    "report": TrajectoryReport,  # the enriched trajectory record
}
TITLES: Final[dict[str, str]] = {
    "events": "agent-signals event (tagged on `kind`)",
    "batch": "agent-signals batched envelope (events of one trajectory)",
    "report": "agent-signals trajectory report",
}
DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILES: Final[dict[str, str]] = {
    "events": "event.schema.json",
    "batch": "batch.schema.json",
    "report": "report.schema.json",
}


def generate(name: str) -> bytes:
    """The schema ``name`` (a key of SCHEMA_TYPES) as indented JSON with a trailing newline."""
    schema = {"$schema": DRAFT, "title": TITLES[name], **msgspec.json.schema(SCHEMA_TYPES[name])}
    return msgspec.json.format(msgspec.json.encode(schema), indent=2) + b"\n"
