"""The published JSON Schemas match the model, and `signals schema` prints them."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

import detectors.schema
from detectors.model import EVENT_TYPES, TrajectoryReport
from detectors.schema import SCHEMA_FILES, generate
from streams.cli import main

SCHEMA_DIR = Path(detectors.schema.__file__).parent


@pytest.mark.parametrize("name", sorted(SCHEMA_FILES))
def test_committed_schema_is_what_the_model_generates(name: str) -> None:
    committed = (SCHEMA_DIR / SCHEMA_FILES[name]).read_bytes()
    assert committed == generate(name), f"regenerate: signals schema {name} > detectors/schema/{SCHEMA_FILES[name]}"


def test_event_schema_covers_every_kind_with_its_tag() -> None:
    schema = json.loads(generate("events"))
    mapping = schema["discriminator"]["mapping"]
    assert schema["discriminator"]["propertyName"] == "kind"
    assert set(mapping) == {cls.__struct_config__.tag for cls in EVENT_TYPES}
    for definition in schema["$defs"].values():
        assert {"trajectory_id", "seq", "kind"} <= set(definition["required"])


def test_batch_schema_is_an_array_of_events() -> None:
    schema = json.loads(generate("batch"))
    assert schema["type"] == "array"
    assert schema["items"]["discriminator"] == json.loads(generate("events"))["discriminator"]


def test_report_schema_requires_the_record_fields() -> None:
    schema = json.loads(generate("report"))
    required = set(schema["$defs"]["TrajectoryReport"]["required"])
    assert {"id", "quality", "quality_score", "triage_score", "signals", "counts"} <= required
    assert set(schema["$defs"]["TrajectoryReport"]["properties"]) == set(TrajectoryReport.__struct_fields__)


@pytest.mark.parametrize("name", ["events", "batch", "report"])
def test_cli_prints_the_schema(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", name]) == 0
    assert msgspec.json.decode(capsys.readouterr().out) == json.loads(generate(name))


def test_cli_default_is_events(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"].startswith("agent-signals event")
