"""ShareGPT conversations -> events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from detectors.adapters.detect import parse_trajectories
from detectors.adapters.sharegpt import parse_call
from tests.builders import A, C, R, U, conv


def adapt(rows: list[dict[str, Any]], key: str = "conversations", **extra: Any) -> Any:
    [trajectory] = parse_trajectories(json.dumps({key: rows, **extra}).encode(), stem="sg")
    return trajectory


CASES = [
    pytest.param(
        [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}],
        conv("sg-0", U("hi"), A("hello")), id="human/gpt",
    ),
    pytest.param(
        [{"from": "User", "value": "a"}, {"from": "ASSISTANT", "value": "b"}, {"from": "system", "value": "s"}],
        conv("sg-0", U("a"), A("b")), id="case-insensitive roles, system makes no event",
    ),
    pytest.param(
        [{"from": "function_call", "value": "{\"name\": \"f\", \"arguments\": {\"x\": 1}}"},
         {"from": "observation", "value": "ok"}],
        conv("sg-0", C("f", {"x": 1}, call_id="call-0"), R("ok", tool="f", call_id="call-0")),
        id="JSON call and its observation",
    ),
    pytest.param(
        [{"from": "function_call", "value": "{\"name\": \"f\"}"}, {"from": "function_call", "value": "g(1)"},
         {"from": "observation", "value": "for f"}, {"from": "observation", "value": "for g"},
         {"from": "observation", "value": "again g"}],
        conv("sg-0", C("f", None, call_id="call-0"), C("g", "1", call_id="call-1"),
             R("for f", tool="f", call_id="call-0"), R("for g", tool="g", call_id="call-1"),
             R("again g", tool="g", call_id="call-1")),
        id="observations answer unanswered calls in order, then the latest",
    ),
    pytest.param(
        [{"from": "observation", "value": "orphan"}],
        conv("sg-0", R("orphan")), id="observation without a call",
    ),
]


@pytest.mark.parametrize(("rows", "expected"), CASES)
def test_rows_to_events(rows: list[dict[str, Any]], expected: list[Any]) -> None:
    assert adapt(rows).events == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("{\"name\": \"f\", \"arguments\": \"{\\\"a\\\":1}\"}", ("f", "{\"a\":1}")),
    ("{\"function\": \"f\", \"args\": {\"a\": 1}}", ("f", {"a": 1})),
    ("{\"arguments\": {}}", ("unknown", {})),
    ({"name": "f", "arguments": {"a": 1}}, ("f", {"a": 1})),
    ("search({\"q\": \"cats\"})", ("search", {"q": "cats"})),
    ("search(cats)", ("search", "cats")),
    ("search(unclosed", ("search", "unclosed")),
    ("just_a_name", ("just_a_name", None)),
    ("(leading paren)", ("(leading paren)", None)),
])
def test_parse_call(value: Any, expected: tuple[str, Any]) -> None:
    assert parse_call(value) == expected


def test_messages_key_id_and_skipped_rows() -> None:
    trajectory = adapt([{"from": "human", "value": "x"}, {"from": "narrator", "value": "?"}], key="messages",
                       id="my-conv")
    assert trajectory.id == "my-conv"
    assert trajectory.events == conv("my-conv", U("x"))
    assert trajectory.labels == {"skipped_rows": 1}


def test_row_timestamps() -> None:
    trajectory = adapt([{"from": "human", "value": "x", "timestamp": "2026-01-05T10:00:00+01:00"},
                        {"from": "gpt", "value": "y", "ts": 1767603601}])
    assert [e.ts for e in trajectory.events] == [1767603600.0, 1767603601.0]
