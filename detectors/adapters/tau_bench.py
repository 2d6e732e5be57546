"""τ-bench result files -> events.

A record is ``{task_id, trial, reward, info, traj}`` with ``traj`` a list of OpenAI messages.
- id ``"<task_id>-<trial>"`` (``trial`` 0 when absent); labels ``{reward, task_id, trial}``;
- the first event's attribute ``task`` holds the task id (what cohort evidence groups by);
- agent_id ``"tau-bench"`` unless the record (or its ``info``) names an ``agent_id``;
- the simulated user ends the chat with a trailing ``###STOP###``: the marker is stripped from the
  text, a user message left empty by it is dropped, and a SessionEnd(reason="user_stop") closes
  the trajectory.
"""

from __future__ import annotations

from typing import Any, Final

from detectors.adapters.base import AdapterError, Trajectory
from detectors.adapters.builder import EventBuilder
from detectors.adapters.openai import Message, add_messages, decode_messages
from detectors.model import SessionEnd

EXPECTED: Final = "a τ-bench result: an object with `task_id`, `trial`, `reward` and `traj` (OpenAI messages)"
STOP_MARKER: Final = "###STOP###"
DEFAULT_AGENT: Final = "tau-bench"
LABELS: Final = ("reward", "task_id", "trial")


def to_trajectory(record: dict[str, Any], default_id: str, where: str) -> Trajectory:
    del default_id  # τ-bench ids come from the task and trial
    _check_task_id(record, where)
    trajectory_id = f"{record['task_id']}-{record.get('trial', 0)}"
    out = EventBuilder(trajectory_id, {"agent_id": _agent_id(record)})
    out.first_attributes["task"] = str(record["task_id"])  # the cohort key: runs of the same task are peers
    messages, stopped = strip_stop(decode_messages(record["traj"], f"{where} (`traj`)"))
    add_messages(out, messages, where)
    if stopped:
        out.add(SessionEnd, reason="user_stop", ts=out.last_ts)
    labels: dict[str, Any] = {name: record[name] for name in LABELS if name in record}
    return Trajectory(id=trajectory_id, events=out.events, labels=labels)


def strip_stop(messages: list[Message]) -> tuple[list[Message], bool]:
    """Messages with the user's stop marker removed, and whether there was one."""
    kept: list[Message] = []
    stopped = False
    for message in messages:
        if message.role == "user" and isinstance(message.content, str) and STOP_MARKER in message.content:
            stopped = True
            message.content = message.content.replace(STOP_MARKER, "").strip()
            if not message.content:
                continue
        kept.append(message)
    return kept, stopped


def _agent_id(record: dict[str, Any]) -> str:
    info = record.get("info")
    for source in (record, info if isinstance(info, dict) else {}):
        if isinstance(source.get("agent_id"), str) and source["agent_id"]:
            return str(source["agent_id"])
    return DEFAULT_AGENT


def _check_task_id(record: dict[str, Any], where: str) -> None:
    task_id = record.get("task_id")
    if not isinstance(task_id, str | int) or isinstance(task_id, bool):
        raise AdapterError(f"`task_id` {task_id!r}", where=where, expected=EXPECTED,
                           fix="`task_id` must be a string or an integer")
