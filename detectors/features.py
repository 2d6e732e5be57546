"""Per-trajectory counters that feed the quality grade and the triage score."""

from __future__ import annotations

import hashlib
import re
import string
from typing import Any

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
    # What cohort evidence needs (detectors/cohort.py), kept small: two keys and a bounded set.
    task_key: str = ""  # the producer's task/intent key (first event's attributes), "" without one
    context_key: str = ""  # the agent's configuration: fingerprint of its system prompt, if known
    request_key: str = ""  # what the request is about: see update_request_key
    user_key: str = ""  # the first identifier the user typed (account, order, booking id)
    actions: list[str] = []  # sorted hashes of successful state-changing calls (tool + arguments)


MAX_TOOLS = 32
MAX_ACTIONS = 32
TASK_ATTRIBUTES = ("task", "task_id", "intent")  # event attributes that name the task, first wins
CONTEXT_ATTRIBUTE = "system_sha256"  # set by the adapters from the system prompt
# An identifier: a token of 5+ characters of word, '#', '@', '.' or '-' with a digit among them:
# account handles (mia_li_3668), order numbers, emails, booking codes, zip codes. Tokens are found
# by one linear scan (no backtracking), within the first IDENTIFIER_SCAN characters of a text.
_TOKEN = re.compile(r"[#@\w.\-]+", re.ASCII)
_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "_#@.-")
_DIGIT = re.compile(r"\d", re.ASCII)
IDENTIFIER_SCAN = 4096


def update_features(features: Features, view: EventView) -> None:
    ts = view.ts
    if features.events == 0:
        features.first_ts = ts  # the first event's time: stable, so storage keys never move
        _first_event_keys(features, view.event.attributes)
    features.events += 1
    if ts is not None and (features.last_ts is None or ts > features.last_ts):
        features.last_ts = ts
    kind = view.kind
    if kind == "user":
        features.user_turns += 1
        features.user_chars += len(view.event.text)  # type: ignore[union-attr]
        if not features.user_key:
            features.user_key = first_identifier(view.event.text)  # type: ignore[union-attr]
            features.request_key = features.request_key or features.user_key
    elif kind == "assistant":
        features.assistant_turns += 1
        features.assistant_chars += len(view.event.text)  # type: ignore[union-attr]
    elif kind == "tool_call":
        _count_call(features, view.tool)
        if features.tool_calls == 1 and view.call is not None:
            update_request_key(features, first_identifier(view.call.args_key))
    elif kind == "tool_result":
        assert isinstance(view.event, ToolResult)
        failed, mutating = result_is_error(view.event), is_mutating(view.tool)
        _count_result(features, failed, mutating)
        if mutating and not failed and view.call is not None:
            _add_action(features, action_hash(view.tool, view.call.args_key))
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


def _first_event_keys(features: Features, attributes: dict[str, Any]) -> None:
    if not attributes:
        return
    task = next((attributes[name] for name in TASK_ATTRIBUTES if attributes.get(name) not in (None, "")), "")
    features.task_key = str(task)[:200]
    context = attributes.get(CONTEXT_ATTRIBUTE)
    features.context_key = context[:64] if isinstance(context, str) else ""


def update_request_key(features: Features, looked_up: str) -> None:
    """The request key is the first identifier the agent's first tool call looked up (an account,
    order or booking: the agent's own normalised reading of what the user asked about), else the
    first identifier the user typed. Measured on the τ-bench dev files with task ids hidden, the
    looked-up identifier groups runs of one request better (cohort AUC 0.80 against 0.78 on retail)."""
    if looked_up:
        features.request_key = looked_up


def first_identifier(text: str) -> str:
    """The first token (see ``_TOKEN``) of 5+ characters with a digit in it, lowercased, else "".
    Finds each digit with one C-level search and widens it to its token, so a message without
    digits (most of them) costs one search, and no character is looked at twice."""
    end, position = min(len(text), IDENTIFIER_SCAN), 0
    while (digit := _DIGIT.search(text, position, end)) is not None:
        start = digit.start()
        while start > 0 and text[start - 1] in _TOKEN_CHARS:
            start -= 1
        stop = _TOKEN.match(text, digit.start(), end).end()  # type: ignore[union-attr]
        token = text[start:stop].strip(".-#@").lower()
        if len(token) >= 5:
            return token[:64]
        position = stop
    return ""


def action_hash(tool: str, args_key: str) -> str:
    """Identity of a state-changing action: the tool and its arguments, order of list items aside."""
    try:
        arguments = _canonical(msgspec.json.decode(args_key)) if args_key else None
        text = _ENCODER.encode(arguments).decode()
    except (msgspec.DecodeError, TypeError):
        text = args_key
    return hashlib.blake2b(f"{tool}\x00{text}".encode(), digest_size=8).hexdigest()


_ENCODER = msgspec.json.Encoder(order="sorted")


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_canonical(item) for item in value]
        return sorted(items, key=lambda item: _ENCODER.encode(item))
    if isinstance(value, str):
        return value.strip().lower()
    return value


def _add_action(features: Features, digest: str) -> None:
    actions = features.actions
    if digest in actions or len(actions) >= MAX_ACTIONS:
        return
    actions.append(digest)
    actions.sort()
