"""What the receiver makes of a request body (streams/otlp_http/receive.py), by value."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from streams.otlp_http.receive import (
    JSON,
    PROTOBUF,
    RequestError,
    inflate,
    media_type,
    parse,
    records_of,
    response_body,
    status_body,
    to_json,
)

TRACE_A, TRACE_B = "4bf92f3577b34da6a3ce929d0e0e4736", "5bf92f3577b34da6a3ce929d0e0e4737"


def span(trace: str, span_id: str, **more: Any) -> dict[str, Any]:
    return {"traceId": trace, "spanId": span_id, "name": "chat gpt-4o", "kind": 3,
            "startTimeUnixNano": "1760000000000000000", **more}


def document(*spans: Any) -> dict[str, Any]:
    return {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name",
                                                              "value": {"stringValue": "weather-agent"}}]},
                               "scopeSpans": [{"scope": {"name": "openai_v2"}, "spans": list(spans)}]}]}


def test_json_hex_ids_become_the_right_bytes() -> None:
    body = json.dumps(document(span(TRACE_A, "00f067aa0ba902b7", parentSpanId="a1b2c3d4e5f60718",
                                    attributes=[{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "47"}}]))).encode()
    parsed = parse(body, JSON)
    got = parsed.request.resource_spans[0].scope_spans[0].spans[0]
    assert (got.trace_id, got.span_id, got.parent_span_id) == (
        bytes.fromhex(TRACE_A), bytes.fromhex("00f067aa0ba902b7"), bytes.fromhex("a1b2c3d4e5f60718"))
    assert (got.attributes[0].value.int_value, got.kind, got.start_time_unix_nano) == (47, 3, 1760000000000000000)
    assert parsed.rejected == 0


def test_records_one_per_trace_keyed_by_hex_trace_id_in_either_encoding() -> None:
    body = json.dumps(document(span(TRACE_A, "00f067aa0ba902b7"), span(TRACE_B, "00f067aa0ba902b8"),
                               span(TRACE_A, "00f067aa0ba902b9"))).encode()
    proto = records_of(parse(body, JSON), "otlp_proto", 1 << 20)
    assert [(r.key, r.spans) for r in proto.records] == [(TRACE_A.encode(), 2), (TRACE_B.encode(), 1)]
    first = ExportTraceServiceRequest.FromString(proto.records[0].value)
    assert [s.span_id.hex() for s in first.resource_spans[0].scope_spans[0].spans] == ["00f067aa0ba902b7",
                                                                                      "00f067aa0ba902b9"]
    assert first.resource_spans[0].resource.attributes[0].value.string_value == "weather-agent"
    assert first.resource_spans[0].scope_spans[0].scope.name == "openai_v2"
    as_json = records_of(parse(body, JSON), "otlp_json", 1 << 20)
    written = json.loads(as_json.records[1].value)
    assert written["resourceSpans"][0]["scopeSpans"][0]["spans"] == [
        {"traceId": TRACE_B, "spanId": "00f067aa0ba902b8", "name": "chat gpt-4o", "kind": 3,
         "startTimeUnixNano": "1760000000000000000"}]
    assert (as_json.spans, as_json.rejected) == (3, 0)


def test_protobuf_body_round_trips_to_json_records_with_hex_ids() -> None:
    request = parse(json.dumps(document(span(TRACE_A, "00f067aa0ba902b7", links=[
        {"traceId": TRACE_B, "spanId": "00f067aa0ba902b8"}]))).encode(), JSON).request
    parsed = parse(request.SerializeToString(), PROTOBUF)
    assert parsed.request == request
    spans = to_json(parsed.request)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert spans[0]["traceId"] == TRACE_A and spans[0]["links"] == [{"traceId": TRACE_B, "spanId": "00f067aa0ba902b8"}]


def test_spans_with_missing_or_invalid_ids_are_rejected_alone() -> None:
    body = json.dumps(document(span(TRACE_A, "00f067aa0ba902b7"), span("zz" * 16, "00f067aa0ba902b8"),
                               {"spanId": "00f067aa0ba902b9"}, span("0" * 32, "00f067aa0ba902ba"),
                               span(TRACE_A, "0" * 16), span(TRACE_A, "abcd"), span(TRACE_A, "00f067aa0ba902bb",
                                                                                  startTimeUnixNano="soon"))).encode()
    accepted = records_of(parse(body, JSON), "otlp_proto", 1 << 20)
    assert (accepted.spans, accepted.rejected) == (1, 6)
    message = accepted.message()
    assert "is not hex" in message and "all zero" in message and "(and 1 more)" in message
    response = ExportTraceServiceResponse.FromString(response_body(PROTOBUF, accepted.rejected, message))
    assert (response.partial_success.rejected_spans, response.partial_success.error_message) == (6, message)


def test_full_success_answers_an_empty_response() -> None:
    assert response_body(PROTOBUF, 0, "") == b""
    assert response_body(JSON, 0, "") == b"{}"
    assert json.loads(response_body(JSON, 2, "bad ids")) == {"partialSuccess": {"rejectedSpans": "2",
                                                                                "errorMessage": "bad ids"}}


def test_records_split_to_fit_the_limit_and_a_span_too_large_is_rejected() -> None:
    big = [{"key": "blob", "value": {"stringValue": "x" * 3000}}]
    spans = [span(TRACE_A, f"00f067aa0ba902{i:02x}", attributes=big) for i in range(1, 9)]
    accepted = records_of(parse(json.dumps(document(*spans)).encode(), JSON), "otlp_proto", 8000)
    assert all(len(r.value) <= 8000 for r in accepted.records) and len(accepted.records) >= 4
    assert (accepted.spans, accepted.rejected) == (8, 0)
    assert sorted(s.span_id for r in accepted.records
                  for s in ExportTraceServiceRequest.FromString(r.value).resource_spans[0].scope_spans[0].spans) == \
        sorted(bytes.fromhex(f"00f067aa0ba902{i:02x}") for i in range(1, 9))
    alone = records_of(parse(json.dumps(document(*spans)).encode(), JSON), "otlp_proto", 2000)
    assert (alone.records, alone.rejected) == ([], 8)


def test_bad_bodies_are_400() -> None:
    for body, media in ((b"\xff\xff\xff", PROTOBUF), (b"{not json", JSON), (b"[1, 2]", JSON),
                        (b'{"resourceSpans": 3}', JSON)):
        with pytest.raises(RequestError) as caught:
            parse(body, media)
        assert caught.value.status == 400


def test_media_types() -> None:
    assert media_type("application/x-protobuf") == PROTOBUF
    assert media_type("application/json; charset=utf-8") == JSON
    for bad in ("text/plain", None, "application/grpc"):
        with pytest.raises(RequestError) as caught:
            media_type(bad)
        assert caught.value.status == 415


def test_inflate() -> None:
    assert inflate(gzip.compress(b"abc"), "gzip", 10) == b"abc"
    assert inflate(b"abc", None, 10) == inflate(b"abc", "identity", 10) == b"abc"
    cases = [(b"not gzip", "gzip", 400), (gzip.compress(b"abc")[:-6], "gzip", 400), (b"abc", "br", 415),
             (gzip.compress(b"a" * 100), "gzip", 413), (b"a" * 11, None, 413)]
    for body, coding, status in cases:
        with pytest.raises(RequestError) as caught:
            inflate(body, coding, 10)
        assert caught.value.status == status, (body, coding)


def test_status_bodies() -> None:
    assert status_body(PROTOBUF, 3, "bad") == b"\x08\x03\x12\x03bad"
    assert json.loads(status_body(JSON, 14, "down")) == {"code": 14, "message": "down"}
    long = status_body(PROTOBUF, 8, "x" * 200)
    assert long[:4] == b"\x08\x08\x12\xc8" and long[4:5] == b"\x01" and len(long) == 205


def test_status_body_is_a_google_rpc_status() -> None:
    from google.rpc.status_pb2 import Status  # googleapis-common-protos, under the SDK's OTLP exporter
    assert Status.FromString(status_body(PROTOBUF, 14, "Kafka é down")) == Status(code=14, message="Kafka é down")
