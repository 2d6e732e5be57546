"""Per-trajectory counters that feed the quality grade and the triage score."""

from __future__ import annotations

import msgspec

from detectors.base import EventView
from detectors.model import ToolResult
from detectors.toolnames import is_handoff, is_mutating
from detectors.tools import result_is_error


class Features(msgspec.Struct, kw_only=True):
    events: int = 0
    user_turns: int = 0
    assistant_turns: int = 0
    tool_calls: int = 0
    tool_results: int = 0
    tool_errors: int = 0
    state_changes: int = 0  # successful results of state-changing tools (book, cancel, pay, ...)
    failed_state_changes: int = 0
    retried_state_changes: int = 0  # state-changing calls made after one failed: improvisation
    handoffs: int = 0  # calls that hand the conversation to a human
    user_chars: int = 0
    assistant_chars: int = 0
    distinct_tools: list[str] = []  # bounded: at most MAX_TOOLS names
    feedback_score: float | None = None
    first_ts: float | None = None  # time of the first event (in seq order), None if it has none
    last_ts: float | None = None


MAX_TOOLS = 32


def update_features(features: Features, view: EventView) -> None:
    ts = view.ts
    if features.events == 0:
        features.first_ts = ts  # the first event's time: stable, so storage keys never move
    features.events += 1
    if ts is not None and (features.last_ts is None or ts > features.last_ts):
        features.last_ts = ts
    kind = view.kind
    if kind == "user":
        features.user_turns += 1
        features.user_chars += len(view.event.text)  # type: ignore[union-attr]
    elif kind == "assistant":
        features.assistant_turns += 1
        features.assistant_chars += len(view.event.text)  # type: ignore[union-attr]
    elif kind == "tool_call":
        _count_call(features, view.tool)
    elif kind == "tool_result":
        assert isinstance(view.event, ToolResult)
        _count_result(features, result_is_error(view.event), is_mutating(view.tool))
    elif kind == "feedback":
        features.feedback_score = view.event.score  # type: ignore[union-attr]


def _count_call(features: Features, tool: str) -> None:
    features.tool_calls += 1
    if tool and tool not in features.distinct_tools and len(features.distinct_tools) < MAX_TOOLS:
        features.distinct_tools.append(tool)
    features.handoffs += is_handoff(tool)
    features.retried_state_changes += features.failed_state_changes > 0 and is_mutating(tool)


def _count_result(features: Features, failed: bool, mutating: bool) -> None:
    features.tool_results += 1
    features.tool_errors += failed
    if mutating:
        features.state_changes += not failed
        features.failed_state_changes += failed
