"""Real OpenTelemetry spans for the OTel input tests, made with the official SDK
(``InMemorySpanExporter``) and encoded by the SDK's own OTLP encoder (no fixtures by hand).

``conversation_spans(messages, shape=...)`` plays an OpenAI chat conversation as an agent would
trace it: one inference span per assistant message (input = the whole history before it,
output = that message), one ``execute_tool`` (or TOOL) span per tool message, under one
``invoke_agent`` span; it returns the spans and the same messages with the ``timestamp`` each
message gets on the OTel path (the start of the first span whose input holds it, or the end of
the span that answered it), so the OpenAI path can be fed exactly the same conversation.
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode, set_span_in_context

T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z in ns
SECOND = 10**9


def tracer_and_exporter(service: str = "support-bot") -> tuple[Any, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service, "tenant.id": "acme"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("tests.support.otel"), exporter


def to_proto(spans: list[ReadableSpan]) -> bytes:
    """OTLP protobuf bytes (ExportTraceServiceRequest, wire-identical to TracesData)."""
    return bytes(encode_spans(spans).SerializeToString())


def genai_message(message: dict[str, Any]) -> dict[str, Any]:
    role = message["role"]
    if role == "tool":
        return {"role": "tool", "parts": [{"type": "tool_call_response", "id": message["tool_call_id"],
                                           "response": message["content"]}]}
    parts: list[dict[str, Any]] = [{"type": "text", "content": message["content"]}] if message.get("content") else []
    for call in message.get("tool_calls") or ():
        parts.append({"type": "tool_call", "id": call["id"], "name": call["function"]["name"],
                      "arguments": call["function"]["arguments"]})
    return {"role": role, "parts": parts}


def _genai(span: Any, history: list[dict[str, Any]], answer: dict[str, Any], *, event: bool = False) -> None:
    attrs = {"gen_ai.input.messages": json.dumps([genai_message(m) for m in history]),
             "gen_ai.output.messages": json.dumps([{**genai_message(answer), "finish_reason": "stop"}])}
    span.set_attribute("gen_ai.operation.name", "chat")
    if event:
        span.add_event("gen_ai.client.inference.operation.details", attrs)
    else:
        span.set_attributes(attrs)


def _legacy_flat(span: Any, history: list[dict[str, Any]], answer: dict[str, Any]) -> None:
    span.set_attribute("gen_ai.system", "openai")
    for prefix, rows in (("gen_ai.prompt", history), ("gen_ai.completion", [answer])):
        for n, m in enumerate(rows):
            span.set_attribute(f"{prefix}.{n}.role", m["role"])
            span.set_attribute(f"{prefix}.{n}.content", m.get("content") or "")
            if m.get("tool_call_id"):
                span.set_attribute(f"{prefix}.{n}.tool_call_id", m["tool_call_id"])
            for k, call in enumerate(m.get("tool_calls") or ()):
                span.set_attribute(f"{prefix}.{n}.tool_calls.{k}.id", call["id"])
                span.set_attribute(f"{prefix}.{n}.tool_calls.{k}.name", call["function"]["name"])
                span.set_attribute(f"{prefix}.{n}.tool_calls.{k}.arguments", json.dumps(call["function"]["arguments"]))


def _openinference(span: Any, history: list[dict[str, Any]], answer: dict[str, Any]) -> None:
    span.set_attribute("openinference.span.kind", "LLM")
    for prefix, rows in (("llm.input_messages", history), ("llm.output_messages", [answer])):
        for n, m in enumerate(rows):
            base = f"{prefix}.{n}.message"
            span.set_attribute(f"{base}.role", m["role"])
            span.set_attribute(f"{base}.content", m.get("content") or "")
            if m.get("tool_call_id"):
                span.set_attribute(f"{base}.tool_call_id", m["tool_call_id"])
            for k, call in enumerate(m.get("tool_calls") or ()):
                span.set_attribute(f"{base}.tool_calls.{k}.tool_call.id", call["id"])
                span.set_attribute(f"{base}.tool_calls.{k}.tool_call.function.name", call["function"]["name"])
                span.set_attribute(f"{base}.tool_calls.{k}.tool_call.function.arguments",
                                   json.dumps(call["function"]["arguments"]))


def conversation_spans(messages: list[dict[str, Any]], *, conversation: str = "conv-1", shape: str = "genai",
                       failed_calls: frozenset[str] = frozenset(), model: str = "gpt-4o",
                       start_ns: int = T0, everywhere: bool = False) -> tuple[list[ReadableSpan], list[dict[str, Any]]]:
    """``everywhere``: the conversation and agent ids on every span, not only on the agent span (as
    OpenInference's session context and util-genai's inference spans set it)."""
    tracer, exporter = tracer_and_exporter()
    clock = start_ns
    timed: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    root = tracer.start_span("invoke_agent support", start_time=clock, attributes=_agent_attrs(shape, conversation))
    context = set_span_in_context(root)
    for position, message in enumerate(messages):
        if message["role"] != "assistant":
            timed.append(dict(message))  # its ts: the next inference span's start (filled below)
            if message["role"] == "tool":
                extra = _conversation_attr(shape, conversation, everywhere)
                clock = _tool_span(tracer, context, message, names, shape, failed_calls, clock, extra)
            continue
        history = [{k: v for k, v in m.items() if k != "timestamp"} for m in timed]
        span = tracer.start_span(f"chat {model}", context=context, start_time=clock,
                                 attributes={"gen_ai.request.model": model,
                                             **_conversation_attr(shape, conversation, everywhere)})
        for m in timed:
            m.setdefault("timestamp", clock / 1e9)
        {"genai": _genai, "legacy": _legacy_flat, "openinference": _openinference,
         "genai-event": lambda s, h, a: _genai(s, h, a, event=True)}[shape](span, history, message)
        clock += SECOND
        span.end(end_time=clock)
        timed.append({**message, "timestamp": clock / 1e9})
        for call in message.get("tool_calls") or ():
            names[call["id"]] = call["function"]["name"]
        assert position == len(timed) - 1
    root.end(end_time=clock)
    return list(exporter.get_finished_spans()), timed


def _agent_attrs(shape: str, conversation: str) -> dict[str, Any]:
    if shape == "openinference":
        return {"openinference.span.kind": "AGENT", "session.id": conversation, "agent.name": "support"}
    return {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support",
            "gen_ai.agent.id": "agent-7", "gen_ai.conversation.id": conversation}


def _conversation_attr(shape: str, conversation: str, everywhere: bool) -> dict[str, Any]:
    if shape == "openinference":
        return {"session.id": conversation, **({"agent.name": "support"} if everywhere else {})}
    return {"gen_ai.conversation.id": conversation, "gen_ai.agent.id": "agent-7"} if everywhere else {}


def _tool_span(tracer: Any, context: Any, message: dict[str, Any], names: dict[str, str], shape: str,
               failed_calls: frozenset[str], clock: int, extra: dict[str, Any]) -> int:
    call_id, name = message["tool_call_id"], names.get(message["tool_call_id"], "")
    if shape == "openinference":
        attrs = {"openinference.span.kind": "TOOL", "tool.name": name, "tool_call.id": call_id,
                 "output.value": message["content"]}
    else:
        attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name, "gen_ai.tool.call.id": call_id,
                 "gen_ai.tool.call.result": message["content"]}
    span = tracer.start_span(f"execute_tool {name}", context=context, start_time=clock, attributes={**attrs, **extra})
    if call_id in failed_calls:
        span.set_attribute("error.type", "TimeoutError")
        span.set_status(Status(StatusCode.ERROR, message["content"]))
    span.end(end_time=clock + SECOND // 2)
    return clock + SECOND // 2 + SECOND // 10


def _hex_ids(node: Any) -> Any:
    """MessageToDict's base64 ids -> the hex ids the OTLP/JSON spec (and the Collector) writes."""
    import base64

    if isinstance(node, dict):
        return {k: (base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str)
                    else _hex_ids(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_hex_ids(v) for v in node]
    return node


def to_json_lines(spans: list[ReadableSpan], *, per_line: int = 1, reverse: bool = False) -> str:
    """OTLP/JSON lines as the Collector's file exporter writes them: one TracesData per line
    (``per_line`` spans each), hex ids, int64 as strings."""
    from google.protobuf.json_format import MessageToDict

    ordered = list(reversed(spans)) if reverse else list(spans)
    lines = [json.dumps(_hex_ids(MessageToDict(encode_spans(ordered[i:i + per_line]), use_integers_for_enums=True)), separators=(",", ":"))
             for i in range(0, len(ordered), per_line)]
    return "".join(line + "\n" for line in lines)


WEATHER: list[dict[str, Any]] = [  # a short support conversation with a failing tool, then thanks
    {"role": "user", "content": "what's the weather in Paris? it keeps failing"},
    {"role": "assistant", "content": "",
     "tool_calls": [{"id": "call_VSPy", "type": "function",
                     "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "tool_call_id": "call_VSPy", "content": "error: weather API timed out after 5s"},
    {"role": "assistant", "content": "Sorry, the weather service timed out. Let me try again.",
     "tool_calls": [{"id": "call_Q2", "type": "function",
                     "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "tool_call_id": "call_Q2", "content": "{\"temp_c\": 18, \"sky\": \"cloudy\"}"},
    {"role": "assistant", "content": "It is 18°C and cloudy in Paris."},
    {"role": "user", "content": "thanks, that works"},
    {"role": "assistant", "content": "You're welcome!"},
]


TRACE_KEYS = ("otel_trace_id", "otel_span_id")


def untraced(attributes: dict[str, Any]) -> dict[str, Any]:
    """An event's attributes without the trace and span ids the assembler stamps on every event."""
    return {k: v for k, v in attributes.items() if k not in TRACE_KEYS}


def plain(events: list[Any]) -> list[Any]:
    """The events as an OpenAI conversation would give them: the OTel trace/span ids removed, after
    checking every event carries them (the exporter answers in that trace)."""
    import msgspec

    assert all(len(e.attributes.get("otel_trace_id", "")) == 32 and len(e.attributes["otel_span_id"]) == 16
               for e in events), "an event without its span's trace id"
    return [msgspec.structs.replace(e, attributes=untraced(e.attributes)) for e in events]
