"""τ-bench result records -> events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from detectors.adapters import AdapterError, read_trajectories
from detectors.adapters.detect import parse_trajectories
from detectors.model import SessionEnd
from tests.builders import A, C, End, R, U, conv

FIXTURE = Path(__file__).parents[1] / "fixtures" / "tau_bench_2.json"


def record(traj: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"task_id": 4, "trial": 2, "reward": 1.0, "info": {}, "traj": traj, **fields}


def adapt(*records: dict[str, Any]) -> list[Any]:
    return list(parse_trajectories(json.dumps(list(records)).encode(), stem="results"))


def test_id_labels_and_default_agent() -> None:
    [trajectory] = adapt(record([{"role": "user", "content": "hi"}]))
    assert trajectory.id == "4-2"
    assert trajectory.labels == {"reward": 1.0, "task_id": 4, "trial": 2}
    assert trajectory.events[0].agent_id == "tau-bench"


def test_agent_id_from_info_when_present() -> None:
    [trajectory] = adapt(record([{"role": "user", "content": "hi"}], info={"agent_id": "my-agent"}))
    assert trajectory.events[0].agent_id == "my-agent"


@pytest.mark.parametrize(("last_user", "tail"), [
    ("Thanks! ###STOP###", [U("Thanks!", agent_id="tau-bench"), End(reason="user_stop", agent_id="tau-bench")]),
    ("###STOP###", [End(reason="user_stop", agent_id="tau-bench")]),
    ("no marker", [U("no marker", agent_id="tau-bench")]),
])
def test_stop_marker_is_stripped_and_ends_the_session(last_user: str, tail: list[dict[str, Any]]) -> None:
    call = {"id": "c1", "function": {"name": "get_user", "arguments": "{}"}}
    traj = [{"role": "system", "content": "policy"}, {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "name": "get_user", "content": "{}"},
            {"role": "user", "content": last_user}]
    [trajectory] = adapt(record(traj))
    expected = conv("4-2", U("hi", agent_id="tau-bench"),
                    C("get_user", "{}", call_id="c1", agent_id="tau-bench"),
                    R("{}", tool="get_user", call_id="c1", agent_id="tau-bench"), *tail)
    expected[0].attributes = trajectory.events[0].attributes  # system prompt size/hash, tested elsewhere
    assert trajectory.events == expected


def test_bad_task_id_names_the_record() -> None:
    with pytest.raises(AdapterError) as caught:
        adapt(record([]), record([], task_id=None))
    assert "record 1" in str(caught.value) and "task_id" in str(caught.value)


def test_fixture_file() -> None:
    trajectories = list(read_trajectories(str(FIXTURE)))
    raw = json.loads(FIXTURE.read_text())
    assert [t.id for t in trajectories] == [f"{r['task_id']}-{r['trial']}" for r in raw]
    for trajectory in trajectories:
        assert [e.seq for e in trajectory.events] == list(range(len(trajectory.events)))
        assert isinstance(trajectory.events[-1], SessionEnd)
        assert not any("###STOP###" in getattr(e, "text", "") for e in trajectory.events)


def test_assistant_text_only() -> None:
    [trajectory] = adapt(record([{"role": "assistant", "content": "hello"}], trial=0))
    assert trajectory.events == conv("4-0", A("hello", agent_id="tau-bench", attributes={"task": "4"}))
