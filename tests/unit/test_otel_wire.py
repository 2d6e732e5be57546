"""OTLP bytes -> spans: protobuf through opentelemetry-proto, OTLP/JSON by our own parser (hex ids,
int64 as strings, structured values); the same SDK spans read the same either way."""

from __future__ import annotations

import base64
import json

import pytest
from google.protobuf.json_format import Parse
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from detectors.adapters.otel import SpanError, decode
from tests.support.otel import WEATHER, conversation_spans, to_json_lines, to_proto


def _sdk_spans():
    spans, _ = conversation_spans(WEATHER, shape="genai", failed_calls=frozenset({"call_VSPy"}))
    return spans


def test_protobuf_and_json_give_the_same_spans_with_the_sdks_hex_ids() -> None:
    sdk = _sdk_spans()
    from_proto = decode(to_proto(sdk), "otlp_proto")
    from_json = [span for line in to_json_lines(sdk, per_line=3).splitlines()
                 for span in decode(line.encode(), "otlp_json")]
    assert from_proto == from_json
    assert [(s.trace_id, s.span_id) for s in from_proto] == [
        (f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}") for s in sdk]
    assert all(s.parent_id == f"{sdk[-1].context.span_id:016x}" for s in from_proto[:-1])  # under invoke_agent
    tool = next(s for s in from_proto if s.name.startswith("execute_tool"))
    assert (tool.status_code, tool.status_message) == (2, "error: weather API timed out after 5s")
    assert tool.attributes["gen_ai.tool.call.id"] == "call_VSPy"
    assert from_proto[0].resource["service.name"] == "support-bot"
    assert from_proto[0].start_ns == sdk[0].start_time


def test_protobufs_own_json_parser_garbles_hex_ids_and_ours_does_not() -> None:
    line = to_json_lines(_sdk_spans()[:1])
    trace_id = json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
    garbled = Parse(line, TracesData()).resource_spans[0].scope_spans[0].spans[0].trace_id
    assert garbled.hex() != trace_id and len(garbled) == 24  # the trap: hex read as base64
    assert decode(line.encode(), "otlp_json")[0].trace_id == trace_id


def _document(attributes: list[dict], **span: object) -> bytes:
    base = {"traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174", "name": "chat",
            "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": "1544712661000000000",
            "kind": 3, "attributes": attributes}
    base.update(span)
    return json.dumps({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "shop"}}]},
        "scopeSpans": [{"scope": {"name": "s"}, "spans": [base]}]}]}).encode()


def test_json_values_int64_strings_structured_and_uppercase_hex() -> None:
    attributes = [
        {"key": "n", "value": {"intValue": "9007199254740993"}},  # beyond float precision: kept exact
        {"key": "f", "value": {"doubleValue": 0.5}}, {"key": "b", "value": {"boolValue": True}},
        {"key": "raw", "value": {"bytesValue": base64.b64encode(b"\x00\x01").decode()}},
        {"key": "list", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": 2}]}}},
        {"key": "map", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"stringValue": "v"}}]}}},
        {"key": "empty", "value": {}},
    ]
    span = decode(_document(attributes), "otlp_json")[0]
    assert span.trace_id == "5b8efff798038103d269b633813fc60c" and span.span_id == "eee19b7ec3c1b174"
    assert span.attributes == {"n": 9007199254740993, "f": 0.5, "b": True, "raw": "AAE=", "list": ["a", 2],
                               "map": {"k": "v"}, "empty": None}
    assert (span.start_ns, span.kind, span.resource) == (1544712660000000000, 3, {"service.name": "shop"})


@pytest.mark.parametrize(("change", "message"), [
    ({"traceId": ""}, "trace id"),
    ({"traceId": "0" * 32}, "all zero"),
    ({"spanId": "abc"}, "not hex"),
    ({"spanId": base64.b64encode(b"12345678").decode()}, "not hex"),  # protobuf-JSON style base64 id
    ({"startTimeUnixNano": "soon"}, "not an integer"),
])
def test_bad_ids_and_numbers_are_span_errors(change: dict, message: str) -> None:
    with pytest.raises(SpanError, match=message):
        decode(_document([], **change), "otlp_json")


def test_garbage_is_a_span_error_in_either_encoding() -> None:
    with pytest.raises(SpanError, match="protobuf"):
        decode(b"\xff\xff\xff\xff not protobuf", "otlp_proto")
    with pytest.raises(SpanError, match="OTLP/JSON"):
        decode(b"{not json", "otlp_json")
    with pytest.raises(SpanError, match="resourceSpans"):
        decode(b'{"resourceSpans": 3}', "otlp_json")
    with pytest.raises(SpanError, match="unknown OTLP encoding"):
        decode(b"", "zipkin_json")


def test_a_proto_span_without_ids_is_refused() -> None:
    data = TracesData()
    data.resource_spans.add().scope_spans.add().spans.add(name="chat")
    with pytest.raises(SpanError, match="trace id"):
        decode(data.SerializeToString(), "otlp_proto")


def test_deeply_nested_values_are_cut_not_a_crash() -> None:
    value: dict = {"stringValue": "deep"}
    for _ in range(200):
        value = {"arrayValue": {"values": [value]}}
    span = decode(_document([{"key": "deep", "value": value}]), "otlp_json")[0]
    depth, node = 0, span.attributes["deep"]
    while isinstance(node, list):
        depth, node = depth + 1, node[0]
    assert (depth, node) == (32, None)
