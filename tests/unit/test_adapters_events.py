"""Our own event JSONL / arrays / batched envelopes -> trajectories."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from detectors.adapters import AdapterError, read_trajectories
from detectors.adapters.detect import parse_trajectories
from detectors.model import Event
from tests.builders import A, C, End, R, U, conv

FIXTURE = Path(__file__).parents[1] / "fixtures" / "events.jsonl"

ONE = conv("t1", U("hi"), A("hello"), C("f", {"a": 1}, call_id="c1"), R("ok", call_id="c1"), End())
TWO = conv("t2", U("other"), A("reply"))


def jsonl(events: list[Event]) -> bytes:
    return b"\n".join(msgspec.json.encode(e) for e in events) + b"\n"


def test_interleaved_out_of_order_events_are_grouped_and_sorted() -> None:
    mixed = [ONE[2], TWO[1], ONE[0], ONE[4], TWO[0], ONE[1], ONE[3]]
    trajectories = list(parse_trajectories(jsonl(mixed)))
    assert [t.id for t in trajectories] == ["t1", "t2"]  # first-appearance order
    assert trajectories[0].events == ONE
    assert trajectories[1].events == TWO


def test_json_array_and_batched_envelope_lines() -> None:
    as_array = msgspec.json.encode(ONE)
    as_envelopes = msgspec.json.encode(ONE[:3]) + b"\n" + msgspec.json.encode(ONE[3:]) + b"\n"
    for data in (as_array, as_envelopes):
        [trajectory] = parse_trajectories(data)
        assert trajectory.events == ONE


def test_bad_event_names_the_field_and_line() -> None:
    data = jsonl(ONE[:2]) + b'{"kind": "user", "trajectory_id": "t1", "seq": "three"}\n'
    with pytest.raises(AdapterError) as caught:
        list(parse_trajectories(data, source="ev.jsonl"))
    message = str(caught.value)
    assert "ev.jsonl:3" in message and "$.seq" in message and "signals schema events" in message


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(AdapterError, match="kind"):
        list(parse_trajectories(b'{"kind": "telepathy", "trajectory_id": "t", "seq": 0}'))


def test_fixture_file() -> None:
    trajectories = list(read_trajectories(str(FIXTURE)))
    lines = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    flat = [e for line in lines for e in (line if isinstance(line, list) else [line])]
    assert [t.id for t in trajectories] == list(dict.fromkeys(e["trajectory_id"] for e in flat))
    for trajectory in trajectories:
        assert [e.seq for e in trajectory.events] == sorted(e["seq"] for e in flat
                                                            if e["trajectory_id"] == trajectory.id)
