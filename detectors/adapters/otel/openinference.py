"""OpenInference (Arize, spec/semantic_conventions.md): ``openinference.span.kind`` LLM spans with
flat indexed messages ``llm.input_messages.N.message.{role,content,name,tool_call_id}``, multimodal
``...message.contents.M.message_content.{type,text}``, tool calls
``llm.output_messages.N.message.tool_calls.K.tool_call.{id,function.name,function.arguments}``
(arguments a JSON string); TOOL spans ``tool.name``, ``tool_call.id`` (or ``tool.id``), arguments
``input.value``, result ``output.value``; ``session.id``; AGENT spans give identity only.
"""

from __future__ import annotations

from typing import Any, Final

from detectors.adapters.otel.reading import (
    AGENT,
    INFERENCE,
    TOOL,
    Reading,
    ToolRun,
    as_text,
    error_type,
    failed,
    indexed,
    message,
    tool_call,
)
from detectors.adapters.otel.spans import Span

KIND: Final = "openinference.span.kind"


class OpenInference:
    name = "openinference"

    def matches(self, span: Span) -> bool:
        return KIND in span.attributes

    def read(self, span: Span) -> Reading | None:
        kind = str(span.attributes.get(KIND, "")).upper()
        if kind == "TOOL":
            return Reading(TOOL, self.name, tool=_tool_run(span))
        if kind == "AGENT":
            return Reading(AGENT, self.name)
        if kind != "LLM":
            return None
        reading = Reading(INFERENCE, self.name)
        for prefix, ts in (("llm.input_messages", span.start_s), ("llm.output_messages", span.end_s)):
            for row in indexed(span.attributes, prefix):
                reading.messages.append(_message(row, ts))
        return reading


def _message(row: dict[str, Any], ts: float | None) -> dict[str, Any]:
    role = str(row.get("message.role") or "user")
    content = row.get("message.content")
    if content is None:
        parts = indexed(row, "message.contents")
        content = "\n".join(as_text(p.get("message_content.text")) for p in parts
                            if p.get("message_content.type", "text") == "text")
    calls = [tool_call(c.get("tool_call.id"), c.get("tool_call.function.name"), c.get("tool_call.function.arguments"))
             for c in indexed(row, "message.tool_calls")]
    return message(role, as_text(content), ts, tool_calls=calls, name=row.get("message.name"),
                   tool_call_id=str(row.get("message.tool_call_id") or "").strip())


def _tool_run(span: Span) -> ToolRun:
    attrs = span.attributes
    call_id = attrs.get("tool_call.id") or attrs.get("tool.id") or ""
    is_failed = failed(span)
    result = attrs.get("output.value")
    return ToolRun(call_id=str(call_id).strip(), name=str(attrs.get("tool.name") or ""),
                   arguments=attrs.get("input.value"),
                   result=as_text(result) if result is not None else (span.status_message if is_failed else ""),
                   failed=is_failed, error_type=error_type(span), ts=span.end_s)
