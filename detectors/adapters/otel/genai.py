"""The current OTel GenAI conventions (semantic-conventions-genai, which still references semconv
v1.44; every item "Development"): inference spans with ``gen_ai.input.messages`` /
``gen_ai.output.messages`` (JSON strings or structured values) and ``gen_ai.system_instructions``,
or the same on the event ``gen_ai.client.inference.operation.details``; ``execute_tool`` spans;
``invoke_agent`` spans (identity: agent and conversation; their messages are not read, since their
input is not the inference history).

Parts: ``text`` -> content; ``tool_call`` -> an OpenAI tool call (``arguments`` as given);
``tool_call_response`` (``response``, or ``result`` as the prose examples write) -> a ``tool``
message; ``reasoning`` -> the ``reasoning`` attribute; any other part type is kept whole in the
``otel_parts`` attribute. A ``tool_call_response`` in a message of another role (e.g. ``user``, as
Anthropic sends it) still becomes a tool result, the message's other parts a message of its role.
"""

from __future__ import annotations

from typing import Any, Final

from detectors.adapters.otel.reading import (
    AGENT,
    INFERENCE,
    MAX_MESSAGES,
    TOOL,
    Reading,
    ToolRun,
    as_text,
    error_type,
    failed,
    message,
    parse_json_value,
    tool_call,
)
from detectors.adapters.otel.spans import Span, SpanError

INPUT, OUTPUT, SYSTEM = "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"
DETAILS_EVENT: Final = "gen_ai.client.inference.operation.details"
INFERENCE_OPERATIONS: Final = frozenset({"chat", "text_completion", "generate_content"})


class GenAI:
    name = "genai"

    def matches(self, span: Span) -> bool:
        attrs = span.attributes
        return (INPUT in attrs or OUTPUT in attrs or "gen_ai.operation.name" in attrs
                or any(event.name == DETAILS_EVENT for event in span.events))

    def read(self, span: Span) -> Reading | None:
        operation = span.attributes.get("gen_ai.operation.name")
        if operation == "execute_tool":
            return Reading(TOOL, self.name, tool=tool_run(span))
        if operation in ("invoke_agent", "create_agent"):
            return Reading(AGENT, self.name)
        source = _content_source(span)
        if source is None:
            return None if operation not in INFERENCE_OPERATIONS else Reading(INFERENCE, self.name)
        reading = Reading(INFERENCE, self.name)
        system = source.get(SYSTEM)
        if system is not None:
            parts = parse_json_value(system, SYSTEM)
            text = "\n".join(str(p.get("content", "")) for p in _list(parts, SYSTEM) if isinstance(p, dict))
            reading.messages.append(message("system", text, span.start_s))
        for name, ts in ((INPUT, span.start_s), (OUTPUT, span.end_s)):
            if source.get(name) is not None:
                for raw in _list(parse_json_value(source[name], name), name):
                    add_message(reading, raw, ts, name)
        if len(reading.messages) > MAX_MESSAGES:
            raise SpanError(f"{len(reading.messages)} messages > {MAX_MESSAGES}")
        return reading


def _content_source(span: Span) -> dict[str, Any] | None:
    """The span's attributes when they carry content, else the operation-details event's."""
    if any(name in span.attributes for name in (INPUT, OUTPUT, SYSTEM)):
        return span.attributes
    return next((e.attributes for e in span.events if e.name == DETAILS_EVENT), None)


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise SpanError(f"{what}: expected a list of messages, got {type(value).__name__}")
    return value


def add_message(reading: Reading, raw: Any, ts: float | None, what: str) -> None:
    """One GenAI ChatMessage ``{role, parts[], name?}`` -> one or more OpenAI messages, in part order."""
    if not isinstance(raw, dict) or not isinstance(raw.get("role"), str):
        raise SpanError(f"{what}: a message without a string `role`")
    pending = _Pending(raw["role"], raw.get("name"), str(raw.get("tool_call_id") or raw.get("id") or "").strip())
    made = len(reading.messages)
    parts = raw.get("parts")
    for part in parts if isinstance(parts, list) else []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            pending.texts.append(as_text(part.get("content")))
        elif kind == "tool_call":
            pending.calls.append(tool_call(part.get("id"), part.get("name"), part.get("arguments")))
        elif kind == "tool_call_response":
            pending.flush(reading, ts)
            response = part["response"] if "response" in part else part.get("result")
            reading.messages.append(message("tool", as_text(response), ts,
                                            tool_call_id=str(part.get("id") or "").strip()))
        elif kind == "reasoning":
            pending.extras["reasoning"] = "\n".join(
                filter(None, (pending.extras.get("reasoning"), as_text(part.get("content")))))
        else:
            pending.extras.setdefault("otel_parts", []).append(part)
    pending.flush(reading, ts, always=len(reading.messages) == made)


class _Pending:
    """The parts of one message not yet written out (a tool response in between splits it)."""

    def __init__(self, role: str, name: Any, call_id: str) -> None:
        self.role, self.name, self.call_id = role, name, call_id
        self.texts: list[str] = []
        self.calls: list[dict[str, Any]] = []
        self.extras: dict[str, Any] = {}

    def flush(self, reading: Reading, ts: float | None, *, always: bool = False) -> None:
        if not (self.texts or self.calls or self.extras or always):
            return
        if self.extras:
            reading.extras[len(reading.messages)] = self.extras
        call_id = self.call_id if self.role == "tool" else ""
        reading.messages.append(message(self.role, "\n".join(self.texts), ts, tool_calls=self.calls,
                                        name=self.name, tool_call_id=call_id))
        self.texts, self.calls, self.extras = [], [], {}


def tool_run(span: Span) -> ToolRun:
    attrs = span.attributes
    arguments = attrs.get("gen_ai.tool.call.arguments")
    result = attrs.get("gen_ai.tool.call.result")
    is_failed = failed(span)
    return ToolRun(
        call_id=str(attrs.get("gen_ai.tool.call.id") or "").strip(), name=str(attrs.get("gen_ai.tool.name") or ""),
        arguments=arguments, result=as_text(result) if result is not None else (span.status_message if is_failed else ""),
        failed=is_failed, error_type=error_type(span), ts=span.end_s)
