"""OpenAI chat messages -> events.

- system/developer messages make no event; their size and a short hash go into the first event's
  ``attributes`` (``system_chars``, ``system_sha256``);
- a user message -> UserMessage (kept even when its text is empty);
- an assistant message -> AssistantMessage if its text is non-empty, then one ToolCall per entry
  of ``tool_calls`` (call_id = id, tool = function.name, arguments exactly as given), or one for
  a legacy ``function_call`` (call_id ``legacy-<seq>``);
- a ``tool`` message -> ToolResult (call_id = tool_call_id, tool = the matching call's name, else
  ``name``); a legacy ``function`` message -> ToolResult answering the latest legacy call.
Content is a string or a list of parts; text parts are joined with "\\n", other parts dropped.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

import msgspec

from detectors.adapters.base import AdapterError, Trajectory, describe
from detectors.adapters.builder import EventBuilder, common_fields, record_id
from detectors.adapters.timestamps import first_ts
from detectors.model import AssistantMessage, ToolCall, ToolResult, UserMessage

EXPECTED: Final = (
    "OpenAI chat: a list of messages {role, content, tool_calls?, tool_call_id?}, "
    "or an object with `messages` (and optional `id`, `metadata`)"
)
TEXT_PARTS: Final = frozenset({"text", "input_text", "output_text"})


class Function(msgspec.Struct):
    name: str | None = None
    arguments: Any = None


class ToolCallSpec(msgspec.Struct):
    id: str | None = None
    function: Function = msgspec.field(default_factory=Function)


class Message(msgspec.Struct):
    role: str
    content: Any = None
    name: str | None = None
    tool_calls: list[ToolCallSpec] | None = None
    tool_call_id: str | None = None
    function_call: Function | None = None
    timestamp: Any = None
    created_at: Any = None
    ts: Any = None


def message_text(content: Any) -> str:
    """String content as is; text parts of a part list joined with newlines; anything else ''."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(text for text in map(_part_text, content) if text is not None)
    return ""


def _part_text(part: Any) -> str | None:
    if isinstance(part, str):
        return part
    if isinstance(part, dict) and part.get("type", "text") in TEXT_PARTS and isinstance(part.get("text"), str):
        return str(part["text"])
    return None


def decode_messages(rows: Any, where: str) -> list[Message]:
    if not isinstance(rows, list):
        raise AdapterError(f"`messages` holding {describe(rows)}", where=where, expected=EXPECTED)
    try:
        return msgspec.convert(rows, list[Message])
    except msgspec.ValidationError as error:
        raise AdapterError(f"a message that does not fit: {error}", where=where, expected=EXPECTED,
                           fix="give every message a string `role` and well-formed `tool_calls`") from None


def to_trajectory(record: Any, default_id: str, where: str) -> Trajectory:
    """A message list or an object with ``messages`` -> one trajectory."""
    obj: dict[str, Any] = record if isinstance(record, dict) else {"messages": record}
    out = EventBuilder(record_id(obj, default_id), common_fields(obj))
    add_messages(out, decode_messages(obj.get("messages"), where), where)
    metadata = obj.get("metadata")
    return Trajectory(id=out.trajectory_id, events=out.events, labels=metadata if isinstance(metadata, dict) else {})


def add_messages(out: EventBuilder, messages: list[Message], where: str, marks: list[int] | None = None,
                 call_names: dict[str, str] | None = None) -> None:
    """Append the messages' events; ``marks`` (if given) gets each message's first event position;
    ``call_names`` (call id -> tool name, updated) continues a conversation converted before."""
    converter = _Converter(out)
    if call_names is not None:
        converter.call_names = call_names
    for position, message in enumerate(messages):
        if marks is not None:
            marks.append(len(out.events))
        try:
            converter.add(message, first_ts(message.timestamp, message.created_at, message.ts))
        except ValueError as error:
            raise AdapterError(f"{error}", where=f"{where}, message {position}", expected=EXPECTED,
                               fix="use ISO 8601 or epoch seconds/milliseconds timestamps and known roles") from None


class _Converter:
    """Per-conversation state: call ids -> tool names, the latest legacy call."""

    def __init__(self, out: EventBuilder) -> None:
        self.out = out
        self.call_names: dict[str, str] = {}
        self.legacy_call: tuple[str, str] = ("", "")

    def add(self, message: Message, ts: float | None) -> None:
        role = message.role.lower()
        if role in ("system", "developer"):
            self._system(message_text(message.content))
        elif role == "user":
            self.out.add(UserMessage, text=message_text(message.content), ts=ts)
        elif role == "assistant":
            self._assistant(message, ts)
        elif role == "tool":
            self._tool_result(message, ts)
        elif role == "function":
            self._legacy_result(message, ts)
        else:
            raise ValueError(f"a message with role {message.role!r} (known: system, developer, user, "
                             "assistant, tool, function)")

    def _system(self, text: str) -> None:
        attributes = self.out.first_attributes
        attributes["system_chars"] = attributes.get("system_chars", 0) + len(text)
        attributes["system_sha256"] = hashlib.sha256(text.encode()).hexdigest()[:16]

    def _assistant(self, message: Message, ts: float | None) -> None:
        text = message_text(message.content)
        if text:
            self.out.add(AssistantMessage, text=text, ts=ts)
        for call in message.tool_calls or ():
            call_id, name = call.id or "", call.function.name or ""
            self.call_names[call_id] = name
            self.out.add(ToolCall, tool=name, call_id=call_id, arguments=call.function.arguments, ts=ts)
        if message.function_call is not None:
            self.legacy_call = (f"legacy-{len(self.out.events)}", message.function_call.name or "")
            self.out.add(ToolCall, tool=self.legacy_call[1], call_id=self.legacy_call[0],
                         arguments=message.function_call.arguments, ts=ts)

    def _tool_result(self, message: Message, ts: float | None) -> None:
        call_id = message.tool_call_id or ""
        tool = self.call_names.get(call_id) or message.name or ""
        self.out.add(ToolResult, tool=tool, call_id=call_id, result=message_text(message.content), ts=ts)

    def _legacy_result(self, message: Message, ts: float | None) -> None:
        call_id, tool = self.legacy_call
        self.out.add(ToolResult, tool=message.name or tool, call_id=call_id,
                     result=message_text(message.content), ts=ts)
