"""Wire and result types: agent events in, signals and trajectory reports out.

Every boundary uses these msgspec Structs. Rules for schema evolution: new fields always get a
default, nothing is renamed, and event kinds are a tagged union on the ``kind`` field.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec

JSON = Any

# --------------------------------------------------------------------------------------------
# Events (one Kafka message carries one event, or a list of events of one trajectory).
# --------------------------------------------------------------------------------------------


class EventBase(msgspec.Struct, kw_only=True, tag_field="kind", omit_defaults=True):
    """Fields every event carries. ``seq`` orders events inside a trajectory (0, 1, 2, ...)."""

    trajectory_id: str
    seq: int
    ts: float | None = None  # event time, Unix seconds; None when the producer has no clock
    agent_id: str = ""
    app_id: str = ""
    tenant_id: str = ""
    model: str = ""
    attributes: dict[str, JSON] = {}


class UserMessage(EventBase, tag="user"):
    text: str = ""


class AssistantMessage(EventBase, tag="assistant"):
    text: str = ""


class ToolCall(EventBase, tag="tool_call"):
    tool: str = ""
    call_id: str = ""
    arguments: JSON = None  # a JSON object, or the JSON text OpenAI sends as a string


class ToolResult(EventBase, tag="tool_result"):
    tool: str = ""  # may be empty: the engine attributes results by call_id
    call_id: str = ""
    result: str = ""
    is_error: bool | None = None  # the producer's own verdict, when it has one
    status_code: int | None = None  # HTTP-like status or process exit code


class SessionEnd(EventBase, tag="end"):
    reason: str = ""


class Feedback(EventBase, tag="feedback"):
    """Explicit outcome from the product (thumbs, task success); room for future use."""

    score: float | None = None
    label: str = ""
    comment: str = ""


Event = UserMessage | AssistantMessage | ToolCall | ToolResult | SessionEnd | Feedback
EVENT_TYPES: Final = (UserMessage, AssistantMessage, ToolCall, ToolResult, SessionEnd, Feedback)

# --------------------------------------------------------------------------------------------
# Signals and reports.
# --------------------------------------------------------------------------------------------

Layer = Literal["interaction", "execution", "environment"]

PAPER_SIGNAL_TYPES: Final[tuple[str, ...]] = (  # the 25 leaf types of the Signals paper
    "interaction.misalignment.correction",
    "interaction.misalignment.rephrase",
    "interaction.misalignment.clarification",
    "interaction.stagnation.dragging",
    "interaction.stagnation.repetition",
    "interaction.disengagement.escalation",
    "interaction.disengagement.quit",
    "interaction.disengagement.negative_stance",
    "interaction.satisfaction.gratitude",
    "interaction.satisfaction.confirmation",
    "interaction.satisfaction.success",
    "execution.failure.invalid_args",
    "execution.failure.bad_query",
    "execution.failure.tool_not_found",
    "execution.failure.auth_misuse",
    "execution.failure.state_error",
    "execution.loops.retry",
    "execution.loops.parameter_drift",
    "execution.loops.oscillation",
    "environment.exhaustion.api_error",
    "environment.exhaustion.timeout",
    "environment.exhaustion.rate_limit",
    "environment.exhaustion.network",
    "environment.exhaustion.malformed_response",
    "environment.exhaustion.context_overflow",
)
# Our extension of the taxonomy (not in the paper): do the agent's actions agree with the user's
# consent, the conversation's content and the agent's own words? See detectors/execution/consistency.py.
EXTENSION_SIGNAL_TYPES: Final[tuple[str, ...]] = (
    "execution.consistency.unconfirmed_action",
    "execution.consistency.ungrounded_argument",
    "execution.consistency.unbacked_claim",
    "execution.consistency.silent_action",
    "execution.consistency.ignored_error",
)
SIGNAL_TYPES: Final[tuple[str, ...]] = PAPER_SIGNAL_TYPES + EXTENSION_SIGNAL_TYPES
CATEGORIES: Final[tuple[str, ...]] = tuple(dict.fromkeys(t.rsplit(".", 1)[0] for t in SIGNAL_TYPES))


def category_of(signal_type: str) -> str:
    """``interaction.misalignment.correction`` -> ``interaction.misalignment``."""
    return signal_type.rsplit(".", 1)[0]


class Signal(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One detected signal instance. ``index`` is the ``seq`` of the event it points at."""

    type: str
    index: int
    confidence: float = 1.0
    snippet: str = ""
    tool: str = ""
    metadata: dict[str, JSON] = {}


Quality = Literal["excellent", "good", "neutral", "poor", "severe"]


class TrajectoryReport(msgspec.Struct, kw_only=True):
    """The enriched trajectory record: what `signals analyze` prints and ClickHouse stores."""

    id: str
    quality: Quality
    quality_score: float
    triage_score: float
    signals: list[Signal]
    counts: dict[str, int]
    pipeline_version: str = ""
    final: bool = False
    agent_id: str = ""
    app_id: str = ""
    tenant_id: str = ""
    model: str = ""
    events: int = 0
    user_turns: int = 0
    assistant_turns: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    features: dict[str, float] = {}
    reasons: list[str] = []  # human-readable: why the triage score is what it is
    # Cohort keys (detectors/cohort.py): peers are runs of the same task or request.
    task_key: str = ""
    request_key: str = ""
    context_key: str = ""
    action_sig: str = ""  # hash of the successful state-changing actions, "" for none
    # Set only where the fleet was seen (analyze/evaluate over files, sampling in ClickHouse):
    # triage_score is then the combined score, and these are its parts.
    trajectory_score: float | None = None
    cohort_basis: str | None = None  # "task", "request", or "" without peers
    cohort_peers: int = 0
    cohort_agreeing: int = 0
