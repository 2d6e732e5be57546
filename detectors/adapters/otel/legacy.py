"""Legacy GenAI shapes still in the wild:
- the per-message span events of semconv <= v1.36 (removed in v1.37): ``gen_ai.system.message``,
  ``gen_ai.user.message``, ``gen_ai.assistant.message`` (``content``, ``tool_calls``),
  ``gen_ai.tool.message`` (``content``, ``id``) and ``gen_ai.choice`` (``message`` {role, content,
  tool_calls}, or those keys at the top level), in event order;
- OpenLLMetry/Traceloop's flat ``gen_ai.prompt.N.{role,content,tool_call_id}`` and
  ``gen_ai.completion.N.{role,content}`` with ``...tool_calls.K.{id,name,arguments}``;
- ``gen_ai.system`` (the provider, renamed ``gen_ai.provider.name``): marks a span as GenAI.
Tool calls here carry ``function.name``/``function.arguments`` or ``name``/``arguments``.
"""

from __future__ import annotations

from typing import Any, Final

from detectors.adapters.otel.reading import (
    INFERENCE,
    Reading,
    as_text,
    indexed,
    message,
    parse_json_value,
    tool_call,
)
from detectors.adapters.otel.spans import Span, SpanEvent

ROLE_EVENTS: Final = {"gen_ai.system.message": "system", "gen_ai.user.message": "user",
                      "gen_ai.assistant.message": "assistant", "gen_ai.tool.message": "tool"}
CHOICE: Final = "gen_ai.choice"


class Legacy:
    name = "legacy"

    def matches(self, span: Span) -> bool:
        attrs = span.attributes
        return ("gen_ai.system" in attrs or any(k.startswith(("gen_ai.prompt.", "gen_ai.completion.")) for k in attrs)
                or any(e.name in ROLE_EVENTS or e.name == CHOICE for e in span.events))

    def read(self, span: Span) -> Reading | None:
        reading = Reading(INFERENCE, self.name)
        events = [e for e in span.events if e.name in ROLE_EVENTS or e.name == CHOICE]
        if events:
            for event in events:
                reading.messages.append(_event_message(event, span))
        else:
            for prefix, ts in (("gen_ai.prompt", span.start_s), ("gen_ai.completion", span.end_s)):
                for row in indexed(span.attributes, prefix):
                    reading.messages.append(_flat_message(row, ts))
        return reading if reading.messages else None


def _event_message(event: SpanEvent, span: Span) -> dict[str, Any]:
    attrs = event.attributes
    ts = event.time_ns / 1e9 if event.time_ns else span.start_s
    if event.name == CHOICE:
        inner = parse_json_value(attrs.get("message"), "gen_ai.choice message") if "message" in attrs else attrs
        attrs = inner if isinstance(inner, dict) else {"content": inner}
        role = str(attrs.get("role") or "assistant")
    else:
        role = ROLE_EVENTS[event.name]
    content = attrs.get("content")
    calls = parse_json_value(attrs.get("tool_calls"), f"{event.name} tool_calls") or []
    return message(role, _content(content), ts, tool_calls=[_call(c) for c in calls if isinstance(c, dict)],
                   tool_call_id=str(attrs.get("id") or "").strip() if role == "tool" else "")


def _flat_message(row: dict[str, Any], ts: float | None) -> dict[str, Any]:
    role = str(row.get("role") or "user")
    calls = [tool_call(c.get("id"), c.get("name"), c.get("arguments")) for c in indexed(row, "tool_calls")]
    return message(role, _content(row.get("content")), ts, tool_calls=calls,
                   tool_call_id=str(row.get("tool_call_id") or "").strip())


def _call(raw: dict[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = raw["function"] if isinstance(raw.get("function"), dict) else raw
    return tool_call(raw.get("id"), function.get("name"), function.get("arguments"))


def _content(value: Any) -> str:
    """Text, or an OpenAI/GenAI part list as its joined text."""
    if isinstance(value, list):
        return "\n".join(str(p.get("text", p.get("content", ""))) for p in value if isinstance(p, dict))
    return as_text(value)
