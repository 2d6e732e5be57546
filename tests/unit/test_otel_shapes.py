"""What each convention's span says (parts, roles, tool runs), and hostile spans: invalid JSON in
message attributes, huge attributes, unknown part types, indexes out of range, a flood."""

from __future__ import annotations

import json
from typing import Any

import pytest

from detectors.adapters import AdapterError
from detectors.adapters.detect import parse_trajectories
from detectors.adapters.otel import Assembler, Span, SpanError, SpanEvent, assemble, read_span, spans_of
from detectors.model import AssistantMessage, ToolCall, ToolResult, UserMessage
from tests.support.otel import untraced

TRACE = "0af7651916cd43dd8448eb211c80319c"


def span(n: int = 1, attributes: dict[str, Any] | None = None, **kw: Any) -> Span:
    fields: dict[str, Any] = {"trace_id": TRACE, "span_id": f"{n:016x}", "name": "chat m",
                              "start_ns": n * 10**9, "end_ns": n * 10**9 + 5 * 10**8,
                              "attributes": {"gen_ai.operation.name": "chat", "gen_ai.conversation.id": "c",
                                             **(attributes or {})}}
    fields.update(kw)
    return Span(**fields)


def kv(value: Any) -> dict[str, Any]:
    """A Python value as an OTLP/JSON AnyValue (structured: kvlistValue / arrayValue)."""
    if isinstance(value, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": kv(v)} for k, v in value.items()]}}
    if isinstance(value, list):
        return {"arrayValue": {"values": [kv(v) for v in value]}}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    return {"stringValue": value}


def test_structured_messages_with_result_key_spaced_ids_reasoning_and_unknown_parts() -> None:
    history = [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {"role": "assistant", "parts": [
            {"type": "reasoning", "content": "need the tool"},
            {"type": "tool_call", "id": " call_VSPy", "name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": " call_VSPy", "result": "rainy, 57°F"}]},
    ]
    output = [{"role": "assistant", "finish_reason": "stop", "parts": [
        {"type": "text", "content": "It is rainy."},
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw0KGgo="}]}]
    document = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": kv("bot")}]},
                                   "scopeSpans": [{"spans": [{
        "traceId": TRACE, "spanId": "00f067aa0ba902b7", "name": "chat gpt-4", "startTimeUnixNano": "1000000000",
        "endTimeUnixNano": "2000000000", "attributes": [
            {"key": "gen_ai.operation.name", "value": kv("chat")},
            {"key": "gen_ai.request.model", "value": kv("gpt-4")},
            {"key": "gen_ai.system_instructions", "value": kv([{"type": "text", "content": "Be brief."}])},
            {"key": "gen_ai.input.messages", "value": kv(history)},
            {"key": "gen_ai.output.messages", "value": kv(output)}]}]}]}]}
    [trajectory] = assemble(spans_of(document))
    user, call, result, answer = trajectory.events
    assert isinstance(user, UserMessage) and user.attributes["system_chars"] == len("Be brief.")
    assert isinstance(call, ToolCall) and (call.call_id, call.tool, call.arguments) == (
        "call_VSPy", "get_weather", {"city": "Paris"})
    assert untraced(call.attributes) == {"reasoning": "need the tool"}
    assert isinstance(result, ToolResult) and (result.call_id, result.tool, result.result) == (
        "call_VSPy", "get_weather", "rainy, 57°F")
    assert isinstance(answer, AssistantMessage) and answer.text == "It is rainy."
    assert answer.attributes["otel_parts"] == [output[0]["parts"][1]]
    assert (trajectory.id, answer.model, answer.app_id, answer.ts) == (TRACE, "gpt-4", "bot", 2.0)


def test_a_tool_response_inside_a_user_message_is_a_tool_result_and_the_text_stays_a_user_turn() -> None:
    messages = [{"role": "assistant", "parts": [{"type": "tool_call", "id": "t1", "name": "search", "arguments": {}}]},
                {"role": "user", "parts": [{"type": "tool_call_response", "id": "t1", "response": {"hits": 0}},
                                           {"type": "text", "content": "nothing? try again"}]}]
    reading = read_span(span(attributes={"gen_ai.input.messages": json.dumps(messages)}))
    assert reading is not None
    assert [(m["role"], m["content"]) for m in reading.messages] == [
        ("assistant", ""), ("tool", '{"hits":0}'), ("user", "nothing? try again")]


def test_legacy_per_message_events_in_event_order() -> None:
    events = [SpanEvent("gen_ai.system.message", 1, {"content": "be nice"}),
              SpanEvent("gen_ai.user.message", 2, {"content": "where is my order?"}),
              SpanEvent("gen_ai.assistant.message", 3, {"tool_calls": json.dumps(
                  [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{\"id\": 7}"}}])}),
              SpanEvent("gen_ai.tool.message", 4, {"content": "shipped", "id": "c1"}),
              SpanEvent("gen_ai.choice", 5, {"index": 0, "finish_reason": "stop",
                                             "message": json.dumps({"role": "assistant", "content": "Shipped!"})})]
    legacy = span(attributes={"gen_ai.system": "openai"}, events=events)
    legacy.attributes.pop("gen_ai.operation.name")
    [trajectory] = assemble([legacy])
    assert [(type(e).__name__, getattr(e, "text", getattr(e, "result", ""))) for e in trajectory.events] == [
        ("UserMessage", "where is my order?"), ("ToolCall", ""), ("ToolResult", "shipped"),
        ("AssistantMessage", "Shipped!")]
    assert trajectory.events[2].tool == "lookup" and trajectory.events[0].ts == 2e-9


def test_openinference_multimodal_contents_and_a_failed_tool_span() -> None:
    llm = span(1, {"openinference.span.kind": "LLM", "session.id": "s1",
                   "llm.input_messages.0.message.role": "user",
                   "llm.input_messages.0.message.contents.0.message_content.type": "text",
                   "llm.input_messages.0.message.contents.0.message_content.text": "look this up",
                   "llm.input_messages.0.message.contents.1.message_content.type": "image",
                   "llm.output_messages.0.message.role": "assistant",
                   "llm.output_messages.0.message.tool_calls.0.tool_call.id": "k1",
                   "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "search",
                   "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": "{\"q\": \"x\"}"})
    tool = span(2, {"openinference.span.kind": "TOOL", "session.id": "s1", "tool.name": "search",
                    "tool_call.id": "k1", "input.value": "{\"q\": \"x\"}"},
                status_code=2, status_message="503 Service Unavailable",
                events=[SpanEvent("exception", 3, {"exception.type": "HTTPError"})])
    for each in (llm, tool):
        each.attributes.pop("gen_ai.conversation.id")
    [trajectory] = assemble([tool, llm])
    user, call, result = trajectory.events
    assert (trajectory.id, user.text, call.arguments) == ("s1", "look this up", "{\"q\": \"x\"}")
    assert (result.result, result.is_error, result.attributes) == (
        "503 Service Unavailable", True, {"otel_error_type": "HTTPError"})  # appended: no span repeated it


def test_spans_of_other_kinds_are_ignored() -> None:
    http = Span(trace_id=TRACE, span_id="0" * 15 + "9", name="GET /", attributes={"http.method": "GET"})
    embeddings = span(attributes={"gen_ai.operation.name": "embeddings"})
    assert assemble([http, embeddings]) == []


# --------------------------------------------------------------------------- hostile spans


def test_invalid_json_in_a_message_attribute_names_the_span_and_the_others_go_on() -> None:
    good = span(1, {"gen_ai.input.messages": json.dumps([{"role": "user", "parts": [
        {"type": "text", "content": "hi"}]}])})
    bad = span(2, {"gen_ai.input.messages": "[{\"role\": \"user\", \"parts\": [oops"})
    with pytest.raises(SpanError, match=f"span {bad.span_id}: gen_ai.input.messages: invalid JSON"):
        assemble([good, bad])
    batch = Assembler().add([good, bad])
    assert [e.text for e in batch.events] == ["hi"]  # type: ignore[union-attr]
    assert len(batch.problems) == 1 and bad.span_id in batch.problems[0]


@pytest.mark.parametrize(("attributes", "message"), [
    ({"gen_ai.input.messages": json.dumps({"role": "user"})}, "expected a list"),
    ({"gen_ai.input.messages": json.dumps([{"parts": []}])}, "string `role`"),
    ({"gen_ai.input.messages": json.dumps([{"role": "narrator", "parts": [{"type": "text", "content": "x"}]}])},
     "role 'narrator'"),
    ({"openinference.span.kind": "LLM", "llm.input_messages.99999999.message.role": "user"}, "index above"),
])
def test_malformed_spans_are_span_errors(attributes: dict[str, Any], message: str) -> None:
    with pytest.raises(SpanError, match=message):
        assemble([span(attributes=attributes)])


def test_huge_attributes_are_read_and_an_unknown_part_type_is_kept() -> None:
    text = "x" * (3 << 20)
    messages = [{"role": "user", "parts": [{"type": "text", "content": text}, {"type": "hologram", "depth": 3}]}]
    [trajectory] = assemble([span(attributes={"gen_ai.input.messages": json.dumps(messages)})])
    [user] = trajectory.events
    assert len(user.text) == 3 << 20 and untraced(user.attributes) == {"otel_parts": [{"type": "hologram", "depth": 3}]}
    with pytest.raises(SpanError, match="characters of JSON"):
        assemble([span(attributes={"gen_ai.input.messages": "[" + " " * (16 << 20) + "]"})])


def test_a_flood_of_spans_repeating_one_conversation_gives_each_message_once() -> None:
    history: list[dict[str, Any]] = []
    spans = []
    for n in range(300):
        history.append({"role": "user", "parts": [{"type": "text", "content": f"question {n}"}]})
        answer = [{"role": "assistant", "parts": [{"type": "text", "content": f"answer {n}"}]}]
        spans.append(span(n + 1, {"gen_ai.input.messages": json.dumps(history),
                                  "gen_ai.output.messages": json.dumps(answer)}))
        history = [*history, *answer]
    [trajectory] = assemble(spans[::-1] + spans)
    assert [e.seq for e in trajectory.events] == list(range(600))
    assert [e.text for e in trajectory.events[-2:]] == ["question 299", "answer 299"]  # type: ignore[union-attr]


def test_a_bad_otlp_file_line_is_an_adapter_error_naming_it() -> None:
    line = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "00"}]}]}]})
    with pytest.raises(AdapterError, match=r"traces.jsonl: .*traceId 'zz' is not hex"):
        list(parse_trajectories(line.encode(), source="traces.jsonl", stem="traces"))
