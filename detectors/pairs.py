"""Preference pairs from reviewers' labels, the shape DPO trainers read (pure).

Two labelled trajectories of one agent whose first requests are alike (the same task key, else a
token Jaccard of the first user messages of at least ``MIN_SIMILARITY``) and whose labels are
opposite (``fine`` is chosen, ``failure`` rejected; ``informative`` is neither) make one pair:
``{"prompt": [the first user message], "chosen": [what followed, fine], "rejected": [what followed,
failure]}`` in OpenAI chat messages (TRL's conversational format), plus the two ids, the agent and
the similarity. Most similar pairs first; each trajectory is in one pair at most.
"""

from __future__ import annotations

import json
import re
from itertools import product
from typing import Any, Final

MIN_SIMILARITY: Final = 0.5
_WORD: Final = re.compile(r"\w+")
Row = dict[str, Any]


def first_request(events: list[Row]) -> str:
    return next((str(e.get("text", "")) for e in events if e.get("kind") == "user"), "")


def similarity(a: Row, b: Row) -> float:
    """1 for the same task key, else the Jaccard index of the first requests' words."""
    task_a, task_b = (r.get("record") or {} for r in (a, b))
    if task_a.get("task_key") and task_a.get("task_key") == task_b.get("task_key"):
        return 1.0
    words_a, words_b = (set(_WORD.findall(first_request(r["events"]).lower())) for r in (a, b))
    if not words_a or not words_b:
        return 0.0
    return len(words_a & words_b) / len(words_a | words_b)


def messages(events: list[Row]) -> list[Row]:
    """Events as OpenAI chat messages (tool calls on the assistant message before them)."""
    out: list[Row] = []
    for event in events:
        kind = event.get("kind")
        if kind in ("user", "assistant"):
            out.append({"role": kind, "content": str(event.get("text", ""))})
        elif kind == "tool_call":
            arguments = event.get("arguments")
            call = {"id": event.get("call_id") or f"call_{event.get('seq', 0)}", "type": "function",
                    "function": {"name": event.get("tool", ""),
                                 "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments)}}
            if not out or out[-1]["role"] != "assistant":
                out.append({"role": "assistant", "content": ""})
            out[-1].setdefault("tool_calls", []).append(call)
        elif kind == "tool_result":
            out.append({"role": "tool", "tool_call_id": event.get("call_id") or "", "content": str(event.get("result", ""))})
    return out


def split_prompt(events: list[Row]) -> tuple[list[Row], list[Row]]:
    """(the conversation up to and including the first user message, the rest)."""
    chat = messages(events)
    first = next((i for i, m in enumerate(chat) if m["role"] == "user"), -1)
    return chat[:first + 1], chat[first + 1:]


def preference_pairs(labelled: list[Row], min_similarity: float = MIN_SIMILARITY) -> list[Row]:
    """Rows of ``sinks.labels.labelled`` (id, label, record, events) -> preference pairs."""
    by_agent: dict[str, dict[str, list[Row]]] = {}
    for row in labelled:
        if row.get("label") in ("fine", "failure") and row.get("events"):
            agent = (row.get("record") or {}).get("agent_id", "")
            by_agent.setdefault(agent, {}).setdefault(row["label"], []).append(row)
    candidates = [(similarity(good, bad), agent, good, bad) for agent, sides in sorted(by_agent.items())
                  for good, bad in product(sides.get("fine", []), sides.get("failure", []))]
    candidates = [c for c in candidates if c[0] >= min_similarity]
    candidates.sort(key=lambda c: (-c[0], c[3]["id"], c[2]["id"]))
    used: set[str] = set()
    pairs = []
    for score, agent, good, bad in candidates:
        if good["id"] in used or bad["id"] in used:
            continue
        used.update((good["id"], bad["id"]))
        prompt, chosen = split_prompt(good["events"])
        _, rejected = split_prompt(bad["events"])
        pairs.append({"prompt": prompt, "chosen": chosen, "rejected": rejected, "agent_id": agent,
                      "chosen_id": good["id"], "rejected_id": bad["id"], "similarity": round(score, 4)})
    return pairs
