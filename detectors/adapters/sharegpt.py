"""ShareGPT conversations -> events.

A record is an object with ``conversations`` or ``messages`` holding ``{from, value}`` rows; roles
are case-insensitive: human/user -> UserMessage, gpt/assistant/model -> AssistantMessage,
function_call -> ToolCall, observation/tool/function -> ToolResult, system -> no event (size in
the first event's attributes). Other roles are skipped and counted in ``labels["skipped_rows"]``.

ShareGPT has no call ids: each call gets ``call_id = "call-<seq>"`` and an observation answers the
oldest unanswered call (so parallel calls pair in order), or the latest call when all are answered.
A function_call value is JSON ``{"name", "arguments"|"args"}`` or ``name(args)`` text (the
reference's rules, behaviour doc §2.6); ``args`` that parse as a JSON object become an object.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final

import msgspec

from detectors.adapters.base import AdapterError, Trajectory, describe
from detectors.adapters.builder import EventBuilder, common_fields, record_id
from detectors.adapters.timestamps import first_ts
from detectors.model import AssistantMessage, ToolCall, ToolResult, UserMessage

EXPECTED: Final = "ShareGPT: an object with `conversations` or `messages` holding {from, value} rows"
ROLES: Final = {
    "human": "user", "user": "user",
    "gpt": "assistant", "assistant": "assistant", "model": "assistant",
    "function_call": "call", "observation": "result", "tool": "result", "function": "result",
    "system": "system",
}
_decoder: Final = msgspec.json.Decoder()


class Row(msgspec.Struct):
    from_: str = msgspec.field(name="from")
    value: Any = ""
    timestamp: Any = None
    created_at: Any = None
    ts: Any = None


def to_trajectory(record: dict[str, Any], default_id: str, where: str) -> Trajectory:
    key = "conversations" if "conversations" in record else "messages"
    out = EventBuilder(record_id(record, default_id), common_fields(record))
    converter = _Converter(out)
    for position, row in enumerate(_decode_rows(record[key], where)):
        try:
            converter.add(row, first_ts(row.timestamp, row.created_at, row.ts))
        except ValueError as error:
            raise AdapterError(f"{error}", where=f"{where}, row {position}", expected=EXPECTED,
                               fix="use ISO 8601 or epoch seconds/milliseconds timestamps") from None
    labels = {"skipped_rows": converter.skipped} if converter.skipped else {}
    return Trajectory(id=out.trajectory_id, events=out.events, labels=labels)


def parse_call(value: Any) -> tuple[str, Any]:
    """A function_call row's value -> (tool name, arguments)."""
    if isinstance(value, str):
        try:
            value = _decoder.decode(value)
        except msgspec.DecodeError:
            return _parse_call_text(value)
    if not isinstance(value, dict):
        return _parse_call_text(value if isinstance(value, str) else msgspec.json.encode(value).decode())
    name = value.get("name", value.get("function"))
    return (name if isinstance(name, str) else "unknown"), value.get("arguments", value.get("args"))


def _parse_call_text(text: str) -> tuple[str, Any]:
    """``name(args)``: args that parse as a JSON object become a dict, else stay text."""
    paren = text.find("(")
    if paren <= 0:
        return text.strip(), None
    name, rest = text[:paren].strip(), text[paren + 1:]
    if not rest.endswith(")"):
        return name, rest
    inner = rest[:-1].strip()
    try:
        parsed = _decoder.decode(inner)
    except msgspec.DecodeError:
        return name, inner
    return name, parsed if isinstance(parsed, dict) else inner


def _decode_rows(rows: Any, where: str) -> list[Row]:
    if not isinstance(rows, list):
        raise AdapterError(f"rows holding {describe(rows)}", where=where, expected=EXPECTED)
    try:
        return msgspec.convert(rows, list[Row])
    except msgspec.ValidationError as error:
        raise AdapterError(f"a row that does not fit: {error}", where=where, expected=EXPECTED,
                           fix="give every row a string `from` and a `value`") from None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else msgspec.json.encode(value).decode()


class _Converter:
    def __init__(self, out: EventBuilder) -> None:
        self.out = out
        self.unanswered: deque[tuple[str, str]] = deque()
        self.latest: tuple[str, str] = ("", "")
        self.skipped = 0

    def add(self, row: Row, ts: float | None) -> None:
        role = ROLES.get(row.from_.lower())
        if role == "user":
            self.out.add(UserMessage, text=_text(row.value), ts=ts)
        elif role == "assistant":
            self.out.add(AssistantMessage, text=_text(row.value), ts=ts)
        elif role == "call":
            self._call(row.value, ts)
        elif role == "result":
            call_id, tool = self.unanswered.popleft() if self.unanswered else self.latest
            self.out.add(ToolResult, tool=tool, call_id=call_id, result=_text(row.value), ts=ts)
        elif role == "system":
            attributes = self.out.first_attributes
            attributes["system_chars"] = attributes.get("system_chars", 0) + len(_text(row.value))
        else:
            self.skipped += 1

    def _call(self, value: Any, ts: float | None) -> None:
        name, arguments = parse_call(value)
        self.latest = (f"call-{len(self.out.events)}", name)
        self.unanswered.append(self.latest)
        self.out.add(ToolCall, tool=name, call_id=self.latest[0], arguments=arguments, ts=ts)
