"""Hostile adapter input: ``parse_trajectories`` raises nothing but AdapterError, and
pathological-but-valid files (empty, huge, null-riddled, unicode soup) convert and analyse."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.adapters import AdapterError, Trajectory
from detectors.adapters.detect import parse_trajectories
from detectors.model import AssistantMessage, ToolCall, ToolResult, UserMessage
from detectors.session import analyze

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
# Records that pass format detection (so the converters run) with fields of any type.
KEYS = st.sampled_from(["role", "content", "tool_calls", "tool_call_id", "name", "function_call", "timestamp",
                        "from", "value", "kind", "trajectory_id", "seq", "id", "task_id", "traj", "messages"])
rows = st.dictionaries(KEYS, json_values | st.sampled_from(["user", "assistant", "tool", "gpt", "human"]), max_size=5)
shaped = st.one_of(
    st.builds(lambda r: {"messages": [{"role": "user", **r}, *[r] * 2]}, rows),
    st.builds(lambda r: {"conversations": [{"from": "human", "value": "", **r}, r]}, rows),
    st.builds(lambda r, t: {"task_id": t, "traj": [{"role": "assistant", **r}]}, rows, json_values),
    st.builds(lambda r: [{"role": "assistant", **r}, r], rows),
    st.builds(lambda r: {"kind": "user", "trajectory_id": "t", **r}, rows),
)


def parse(data: bytes) -> list[Trajectory] | AdapterError:
    try:
        return list(parse_trajectories(data, source="hostile"))
    except AdapterError as error:
        assert str(error)  # located and explained
        return error


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_adapter_error(data: bytes) -> None:
    parse(data)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_arbitrary_json_raises_only_adapter_error(value: Any) -> None:
    parse(json.dumps(value).encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shaped, st.booleans())
def test_format_shaped_records_with_wrong_types(record: Any, as_jsonl: bool) -> None:
    data = json.dumps(record).encode()
    out = parse(data + b"\n" + data if as_jsonl else data)
    if isinstance(out, list):  # whatever converts must also analyse
        for trajectory in out:
            analyze(trajectory.id, trajectory.events)


@pytest.mark.parametrize("data", [
    b'{"messages": []}', b'{"conversations": []}', b'{"messages": [{"role": "user", "content": null}]}',
])
def test_empty_conversations_convert(data: bytes) -> None:
    (trajectory,) = parse_trajectories(data)
    report = analyze(trajectory.id, trajectory.events)
    assert report.final and report.events == len(trajectory.events)


def test_nulls_everywhere() -> None:
    messages = [
        {"role": "user", "content": None, "name": None, "timestamp": None},
        {"role": "assistant", "content": None, "tool_calls": [{"id": None, "function": {"name": None,
                                                                                          "arguments": None}}]},
        {"role": "tool", "content": None, "tool_call_id": None},
        {"role": "assistant", "content": None, "function_call": {"name": None, "arguments": None}},
    ]
    (trajectory,) = parse_trajectories(json.dumps({"id": None, "messages": messages}).encode())
    kinds = [type(e) for e in trajectory.events]
    assert kinds == [UserMessage, ToolCall, ToolResult, ToolCall]
    analyze(trajectory.id, trajectory.events)


def test_unknown_content_part_types_are_dropped_text_kept() -> None:
    content = [{"type": "image_url", "image_url": {"url": "x"}}, {"type": "text", "text": "hello"},
               {"type": "hologram"}, 42, None, "tail", {"type": "text", "text": None}]
    (trajectory,) = parse_trajectories(json.dumps([{"role": "user", "content": content}]).encode())
    event = trajectory.events[0]
    assert isinstance(event, UserMessage) and event.text == "hello\ntail"


def test_unicode_soup_round_trips_and_analyses() -> None:
    soup = "naïve ＦＵＬＬＷＩＤＴＨ 🤖🔥 \u200b\u202e RTL עברית العربية \U0001F600 \ufeff e\u0301 \x00\x1f"
    messages = [{"role": "user", "content": soup}, {"role": "assistant", "content": soup[::-1]}]
    (trajectory,) = parse_trajectories(json.dumps(messages, ensure_ascii=False).encode())
    assert isinstance(trajectory.events[0], UserMessage) and trajectory.events[0].text == soup
    analyze(trajectory.id, trajectory.events)


def test_ten_thousand_messages_are_all_counted_with_capped_signals() -> None:
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message number {i} about flights"}
                for i in range(10_000)]
    data = json.dumps({"messages": messages}).encode()
    (trajectory,) = parse_trajectories(data)
    report = analyze(trajectory.id, trajectory.events)  # its cost: bench/bench_hostile.py
    assert report.events == 10_000 and report.user_turns == 5_000
    assert len(report.signals) <= 500  # the record's instance cap


def test_five_megabyte_tool_result() -> None:
    big = "row " * (5 * (1 << 20) // 4)
    messages = [{"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "dump", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "Error: rate limit exceeded\n" + big}]
    (trajectory,) = parse_trajectories(json.dumps(messages).encode())
    result = trajectory.events[1]
    assert isinstance(result, ToolResult) and len(result.result) > 5_000_000
    report = analyze(trajectory.id, trajectory.events)  # its cost (capped prefixes): bench/bench_hostile.py
    assert report.tool_errors == 1
    assert all(len(s.snippet) <= 200 for s in report.signals)


def test_events_records_with_future_fields_and_kinds() -> None:
    good = {"kind": "assistant", "trajectory_id": "t", "seq": 0, "text": "hi", "mood": "great"}
    (trajectory,) = parse_trajectories(json.dumps(good).encode())
    assert isinstance(trajectory.events[0], AssistantMessage)
    with pytest.raises(AdapterError, match=r"telepathy|kind"):
        list(parse_trajectories(json.dumps({**good, "kind": "telepathy"}).encode()))


@pytest.mark.parametrize("data", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"messages":[{"role":"user","content":' + b"[" * 100_000 + b"]" * 100_000 + b"}]}",
    b'{"messages":[]}\n' + b"[" * 100_000 + b"]" * 100_000,  # JSONL, the second line too deep
])
def test_deep_nesting_is_an_adapter_error(data: bytes) -> None:
    with pytest.raises(AdapterError, match="nested too deeply"):
        list(parse_trajectories(data))
