"""Preference pairs from labels (detectors/pairs.py): one agent, alike first requests, opposite labels."""

from __future__ import annotations

from detectors.pairs import messages, preference_pairs


def row(tid: str, label: str, request: str, agent: str = "a", task: str = "") -> dict:
    events = [{"kind": "user", "seq": 0, "text": request},
              {"kind": "tool_call", "seq": 1, "tool": "find", "call_id": "c1", "arguments": {"q": tid}},
              {"kind": "tool_result", "seq": 2, "call_id": "c1", "result": "ok"},
              {"kind": "assistant", "seq": 3, "text": f"done {tid}"}, {"kind": "end", "seq": 4}]
    return {"id": tid, "label": label, "record": {"agent_id": agent, "task_key": task}, "events": events}


def test_alike_requests_with_opposite_labels_pair_once_most_similar_first() -> None:
    rows = [row("good", "fine", "cancel my flight to Paris please"), row("bad", "failure", "cancel my flight to Paris"),
            row("bad2", "failure", "cancel my flight to Rome please"), row("info", "informative", "cancel my flight to Paris"),
            row("other", "failure", "cancel my flight to Paris please", agent="b"),
            row("far", "fine", "what is the weather"), row("t1", "fine", "x", task="k"), row("t2", "failure", "y", task="k")]
    pairs = preference_pairs(rows)
    assert [(p["chosen_id"], p["rejected_id"], p["similarity"]) for p in pairs] == [("t1", "t2", 1.0), ("good", "bad", 0.8333)]
    first = pairs[1]
    assert first["prompt"] == [{"role": "user", "content": "cancel my flight to Paris please"}]
    assert first["chosen"][-1] == {"role": "assistant", "content": "done good"}
    assert first["rejected"][0]["tool_calls"][0]["function"] == {"name": "find", "arguments": '{"q": "bad"}'}


def test_tool_calls_join_the_assistant_message_before_them() -> None:
    chat = messages([{"kind": "assistant", "seq": 0, "text": "looking"},
                     {"kind": "tool_call", "seq": 1, "tool": "f", "arguments": "{}"}])
    assert chat == [{"role": "assistant", "content": "looking",
                     "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]
