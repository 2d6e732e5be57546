"""Reading inputs and detecting formats: arrays, objects, JSONL, stdin, errors that help."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from detectors.adapters import AdapterError, read_trajectories
from detectors.adapters.detect import detect_format, parse_trajectories
from detectors.adapters.timestamps import parse_ts

FORMAT_NAMES = ("τ-bench", "OpenAI", "ShareGPT", "events")
OPENAI = [{"role": "user", "content": "hi"}]
SHAREGPT = {"conversations": [{"from": "human", "value": "hi"}]}
TAU = {"task_id": 1, "trial": 0, "reward": 0.0, "traj": OPENAI}
EVENT = {"kind": "user", "trajectory_id": "e1", "seq": 0, "text": "hi"}


@pytest.mark.parametrize(("value", "expected"), [
    (EVENT, "events"), ([EVENT], "events"), (TAU, "tau-bench"), (SHAREGPT, "sharegpt"),
    ({"messages": [{"from": "gpt", "value": "x"}]}, "sharegpt"), ({"conversations": []}, "sharegpt"),
    ({"messages": OPENAI}, "openai"), (OPENAI, "openai"), ({"messages": []}, "openai"),
    ({"conversations": [{"role": "user", "content": "x"}]}, "openai"),
    ({"foo": 1}, None), ([1, 2], None), ("text", None), ({"messages": "nope"}, None),
])
def test_detect_format(value: Any, expected: str | None) -> None:
    assert detect_format(value) == expected


def ids(data: bytes) -> list[str]:
    return [t.id for t in parse_trajectories(data, source="in.json", stem="in")]


def test_layouts_array_object_jsonl_and_ids() -> None:
    assert ids(json.dumps([SHAREGPT, {**SHAREGPT, "id": "named"}, TAU]).encode()) == ["in-0", "named", "1-0"]
    assert ids(json.dumps({"messages": OPENAI}).encode()) == ["in-0"]
    assert ids(json.dumps(OPENAI).encode()) == ["in-0"]  # a bare message list is one conversation
    assert ids(b"\n".join(json.dumps(r).encode() for r in (SHAREGPT, OPENAI, SHAREGPT)) + b"\n\n") == \
        ["in-0", "in-1", "in-2"]


def test_ids_and_events_are_the_same_in_every_process() -> None:
    """Two interpreters with different hash seeds parse the same bytes into the same trajectories
    (ids, seqs, times): nothing may depend on set or dict-of-hash order or on the process."""
    import os
    import subprocess

    data = json.dumps([SHAREGPT, {**SHAREGPT, "id": "named"}, TAU, {"messages": OPENAI}])
    script = ("import sys, msgspec; from detectors.adapters.detect import parse_trajectories; "
              "print(msgspec.json.encode(list(parse_trajectories(sys.stdin.buffer.read(), source='in.json', "
              "stem='in'))).decode())")
    outputs = {subprocess.run([sys.executable, "-c", script], input=data.encode(), capture_output=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(outputs) == 1
    parsed = json.loads(outputs.pop())
    assert [t["id"] for t in parsed] == ids(data.encode()) == ["in-0", "named", "1-0", "in-3"]


def error_for(data: bytes) -> str:
    with pytest.raises(AdapterError) as caught:
        list(parse_trajectories(data, source="in.jsonl", stem="in"))
    return str(caught.value)


@pytest.mark.parametrize(("data", "got", "where"), [
    (b"", "an empty input", "in.jsonl"),
    (b"  \n\n", "an empty input", "in.jsonl"),
    (b"[]", "an empty JSON array", "in.jsonl"),
    (b'{"foo": 1, "bar": 2}', "a JSON object with keys ['bar', 'foo']", "in.jsonl"),
    (b'[{"foo": 1}]', "a JSON object with keys ['foo']", "in.jsonl record 0"),
    (b'{"conversations": [{"from": "human", "value": "a"}]}\n{"foo": 1}\n', "keys ['foo']", "in.jsonl:2"),
    (b'{"a": 1}\n{"b": 2}\n{"c": x}\n', "invalid JSON at line 3, column 7", "in.jsonl:3"),
    (b'[\n  {"a": 1},\n  {"b": }\n]', "invalid JSON at line 3, column 9", "in.jsonl"),
    (b'{"messages": [', "invalid JSON at line 1", "in.jsonl"),
])
def test_errors_say_what_arrived_where_and_what_is_accepted(data: bytes, got: str, where: str) -> None:
    message = error_for(data)
    assert message.startswith(f"{where}: expected ")
    assert got in message
    assert "Fix:" in message


def test_unrecognised_record_lists_every_accepted_format() -> None:
    message = error_for(b'{"foo": 1}')
    assert all(name in message for name in FORMAT_NAMES)
    assert "task_id" in message and "kind" in message and "conversations" in message and "JSONL" in message


def test_malformed_records_name_the_message_and_the_fix() -> None:
    bad_role = json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "narrator"}]}).encode()
    assert "message 1" in error_for(bad_role) and "narrator" in error_for(bad_role)
    bad_ts = json.dumps({"messages": [{"role": "user", "content": "a", "timestamp": "yesterday"}]}).encode()
    assert "message 0" in error_for(bad_ts) and "yesterday" in error_for(bad_ts)
    no_role = json.dumps([{"role": "user"}, {"content": "x"}]).encode()
    assert "role" in error_for(no_role)


def test_missing_path_and_directory(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="no file at"):
        list(read_trajectories(str(tmp_path / "missing.json")))
    with pytest.raises(AdapterError, match="directory"):
        list(read_trajectories(str(tmp_path)))


def test_file_stem_names_trajectories(tmp_path: Path) -> None:
    path = tmp_path / "support_logs.jsonl"
    path.write_text(json.dumps(SHAREGPT) + "\n" + json.dumps(SHAREGPT) + "\n")
    assert [t.id for t in read_trajectories(str(path))] == ["support_logs-0", "support_logs-1"]


def test_stdin_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(json.dumps([TAU, SHAREGPT]).encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert [t.id for t in read_trajectories("-")] == ["1-0", "stdin-1"]


@pytest.mark.parametrize(("value", "seconds"), [
    (None, None), (1767607200, 1767607200.0), (1767607200.5, 1767607200.5), (1767607200123, 1767607200.123),
    ("1767607200", 1767607200.0), ("2026-01-05T10:00:00Z", 1767607200.0),
    ("2026-01-05T11:00:00+01:00", 1767607200.0), ("2026-01-05 10:00:00", 1767607200.0),
])
def test_parse_ts(value: Any, seconds: float | None) -> None:
    assert parse_ts(value) == pytest.approx(seconds) if seconds is not None else parse_ts(value) is None


@pytest.mark.parametrize("value", ["yesterday", True, [1]])
def test_parse_ts_rejects(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_ts(value)
