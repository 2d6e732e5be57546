"""OpenAI chat messages -> events (table-driven: inline input -> expected events)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from detectors.adapters.detect import parse_trajectories
from detectors.adapters.openai import message_text
from tests.builders import A, C, R, U, conv


def adapt(value: Any) -> list[Any]:
    return list(parse_trajectories(json.dumps(value).encode(), stem="chat"))


CALL = {"id": "c1", "type": "function", "function": {"name": "get_order", "arguments": "{\"id\": 7}"}}
CASES = [
    pytest.param(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        conv("chat-0", U("hi"), A("hello")), id="plain text",
    ),
    pytest.param(
        [{"role": "user", "content": "where?"},
         {"role": "assistant", "content": "Checking.", "tool_calls": [CALL]},
         {"role": "tool", "tool_call_id": "c1", "content": "shipped"}],
        conv("chat-0", U("where?"), A("Checking."), C("get_order", "{\"id\": 7}", call_id="c1"),
             R("shipped", tool="get_order", call_id="c1")),
        id="assistant text before its tool call; result named from the call",
    ),
    pytest.param(
        [{"role": "assistant", "content": None, "tool_calls": [CALL]},
         {"role": "tool", "tool_call_id": "zz", "name": "other", "content": "x"}],
        conv("chat-0", C("get_order", "{\"id\": 7}", call_id="c1"), R("x", tool="other", call_id="zz")),
        id="empty assistant text makes no message; unknown call id falls back to name",
    ),
    pytest.param(
        [{"role": "assistant", "content": "",
          "tool_calls": [{"id": "c9", "function": {"name": "f", "arguments": {"k": [1, 2]}}}]}],
        conv("chat-0", C("f", {"k": [1, 2]}, call_id="c9")), id="object arguments kept as given",
    ),
    pytest.param(
        [{"role": "user", "content": ""}, {"role": "user"}],
        conv("chat-0", U(""), U("")), id="empty user messages kept",
    ),
    pytest.param(
        [{"role": "assistant", "content": None, "function_call": {"name": "lookup", "arguments": "{}"}},
         {"role": "function", "name": "lookup", "content": "found"}],
        conv("chat-0", C("lookup", "{}", call_id="legacy-0"), R("found", tool="lookup", call_id="legacy-0")),
        id="legacy function_call pairs with the function result",
    ),
    pytest.param(
        [{"role": "USER", "content": "caps role"}],
        conv("chat-0", U("caps role")), id="roles are case-insensitive",
    ),
]


@pytest.mark.parametrize(("messages", "expected"), CASES)
def test_messages_to_events(messages: list[dict[str, Any]], expected: list[Any]) -> None:
    [trajectory] = adapt(messages)
    assert trajectory.events == expected


@pytest.mark.parametrize(("content", "text"), [
    ("plain", "plain"),
    ([{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {}}, {"type": "text", "text": "b"}], "a\nb"),
    ([{"type": "input_text", "text": "x"}], "x"),
    (None, ""),
    ({"unexpected": "object"}, ""),
])
def test_content_text(content: Any, text: str) -> None:
    assert message_text(content) == text


def test_system_prompt_goes_to_first_event_attributes_not_an_event() -> None:
    [trajectory] = adapt([{"role": "system", "content": "be nice"}, {"role": "developer", "content": "!"},
                          {"role": "user", "content": "hi"}])
    assert [type(e).__name__ for e in trajectory.events] == ["UserMessage"]
    assert trajectory.events[0].attributes["system_chars"] == len("be nice") + 1
    assert len(trajectory.events[0].attributes["system_sha256"]) == 16


def test_object_with_id_metadata_and_timestamps() -> None:
    record = {"id": "conv-9", "metadata": {"agent_id": "bot", "model": "m1", "team": "x"}, "messages": [
        {"role": "user", "content": "a", "timestamp": "2026-01-05T10:00:00Z"},
        {"role": "assistant", "content": "b", "created_at": 1767607201000},
        {"role": "user", "content": "c", "ts": 1767607202.5},
        {"role": "assistant", "content": "d"},
    ]}
    [trajectory] = adapt(record)
    assert trajectory.id == "conv-9"
    assert trajectory.labels == record["metadata"]
    assert [e.ts for e in trajectory.events] == [1767607200.0, 1767607201.0, 1767607202.5, None]
    assert {(e.agent_id, e.model) for e in trajectory.events} == {("bot", "m1")}


def test_indices_are_positions_in_our_event_list() -> None:
    [trajectory] = adapt([{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                          {"role": "assistant", "content": "t", "tool_calls": [CALL, {**CALL, "id": "c2"}]}])
    assert [e.seq for e in trajectory.events] == [0, 1, 2, 3]
    assert [getattr(e, "call_id", None) for e in trajectory.events] == [None, None, "c1", "c2"]
