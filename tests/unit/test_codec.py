"""streams.codec: message bytes -> events or a precise rejection; output encoders."""

from __future__ import annotations

import json

import msgspec
import pytest

from detectors.model import AssistantMessage, SessionEnd, Signal, ToolCall, TrajectoryReport, UserMessage
from streams.codec import (
    EMPTY,
    ENCODING,
    JSON,
    KEY,
    MIXED,
    OVERSIZE,
    SCHEMA,
    Rejected,
    decode,
    encode_events,
    encode_report,
    encode_signal,
)
from tests.builders import A, C, End, U, conv


def test_single_event_object_decodes_to_one_event() -> None:
    raw = b'{"kind":"user","trajectory_id":"t1","seq":0,"text":"hello"}'
    assert decode(raw, b"t1") == [UserMessage(trajectory_id="t1", seq=0, text="hello")]


def test_envelope_round_trips_every_event_kind() -> None:
    events = conv("t", U("hi"), A("on it"), C("search", {"q": 1}, call_id="c1"), End(), start_ts=100.0)
    assert decode(encode_events(events), "t") == events
    assert [type(e) for e in decode(encode_events(events))] == [UserMessage, AssistantMessage, ToolCall, SessionEnd]


@pytest.mark.parametrize(("value", "reason"), [
    (None, EMPTY),
    (b"", EMPTY),
    (b"\xff\xfe{", ENCODING),
    (b'{"kind":"user","trajectory_id":"t","seq":0,"text":"\xc3"}', ENCODING),
    (b"{not json", JSON),
    (b'{"kind":"user","trajectory_id":"t","seq":0', JSON),
    (b'{"kind":"martian","trajectory_id":"t","seq":0}', SCHEMA),
    (b'{"kind":"user","seq":0}', SCHEMA),
    (b"[]", SCHEMA),
    (b"42", SCHEMA),
])
def test_bad_values_are_rejected_with_their_reason(value: bytes | None, reason: str) -> None:
    result = decode(value)
    assert isinstance(result, Rejected)
    assert result.reason == reason
    assert result.detail


def test_schema_violation_names_the_exact_path() -> None:
    single = decode(b'{"kind":"user","trajectory_id":"t","seq":"3"}')
    envelope = decode(b'[{"kind":"user","trajectory_id":"t","seq":0},{"kind":"user","trajectory_id":"t","seq":"x"}]')
    assert single == Rejected(SCHEMA, "Expected `int`, got `str` - at `$.seq`")
    assert envelope == Rejected(SCHEMA, "Expected `int`, got `str` - at `$[1].seq`")


def test_oversized_value_is_rejected_before_parsing() -> None:
    events = conv("t", U("x" * 500))
    raw = encode_events(events)
    assert decode(raw, max_bytes=len(raw)) == events  # exactly at the limit: accepted, every event intact
    rejected = decode(raw, max_bytes=len(raw) - 1)
    assert isinstance(rejected, Rejected) and rejected.reason == OVERSIZE


def test_envelope_mixing_trajectories_is_rejected() -> None:
    raw = encode_events([*conv("a", U("hi")), *conv("b", U("yo"))])
    result = decode(raw)
    assert isinstance(result, Rejected) and result.reason == MIXED


@pytest.mark.parametrize("key", [b"other", "other"])
def test_key_must_equal_trajectory_id(key: bytes | str) -> None:
    raw = encode_events(conv("t", U("hi"), A("hello")))
    result = decode(raw, key)
    assert isinstance(result, Rejected) and result.reason == KEY
    assert isinstance(decode(raw, b"t"), list)


def test_signal_record_carries_origin_and_signal_fields() -> None:
    signal = Signal(type="execution.loops.retry", index=4, confidence=0.75, tool="search", metadata={"n": 3})
    record = json.loads(encode_signal("t9", signal, pipeline_version="1.2", agent_id="bot"))
    assert record == {"trajectory_id": "t9", "pipeline_version": "1.2", "type": "execution.loops.retry",
                      "index": 4, "confidence": 0.75, "tool": "search", "metadata": {"n": 3}, "agent_id": "bot"}


def test_report_encoding_keeps_final_version_and_signals() -> None:
    report = TrajectoryReport(id="t", quality="poor", quality_score=40.0, triage_score=0.8,
                              signals=[Signal(type="interaction.disengagement.quit", index=2)],
                              counts={"interaction.disengagement.quit": 1}, pipeline_version="9", final=True,
                              agent_id="bot")
    record = json.loads(encode_report(report))
    assert (record["id"], record["final"], record["pipeline_version"], record["agent_id"]) == ("t", True, "9", "bot")
    assert record["signals"][0]["type"] == "interaction.disengagement.quit"
    assert msgspec.json.decode(json.dumps(record["signals"]).encode(), type=list[Signal]) == report.signals


def test_integers_beyond_64_bits_are_rejected_not_left_to_crash_the_state_store() -> None:
    from detectors.session import DEFAULT_ENGINE, Session

    for number in (-(2**63) - 1, 2**64):
        value = json.dumps({"kind": "user", "trajectory_id": "t", "seq": 0, "attributes": {"n": number}}).encode()
        out = decode(value)
        assert isinstance(out, Rejected) and out.reason == "schema" and "2**63" in out.detail
    fits = decode(json.dumps({"kind": "user", "trajectory_id": "t", "seq": 0, "attributes": {"n": 2**64 - 1},
                              "text": "call 12345678901234567890"}).encode())
    assert not isinstance(fits, Rejected)
    session = Session("t")
    session.feed(fits[0])
    DEFAULT_ENGINE.encode_state(session.state)  # storable


# ---- envelope checks at their edges, by value (issue 17: mutation survivors)
def _result(status_code: int) -> bytes:
    return json.dumps({"kind": "tool_result", "trajectory_id": "t", "seq": 0, "status_code": status_code}).encode()


def test_status_code_storable_edges() -> None:
    for fits in (-(2**63), 0, 2**63, 2**64 - 1):
        out = decode(_result(fits))
        assert not isinstance(out, Rejected) and out[0].status_code == fits
    for too_big in (-(2**63) - 1, 2**64):
        out = decode(_result(too_big))
        assert out == Rejected(SCHEMA, "an integer outside [-2**63, 2**64 - 1] cannot be stored")


def test_tick_needs_both_the_control_header_and_its_value() -> None:
    from streams.codec import CONTROL_HEADER, TICK_MESSAGE, decode_message, is_tick

    assert is_tick([(CONTROL_HEADER, b"tick")]) and is_tick([("other", b"x"), (CONTROL_HEADER, b"tick")])
    assert not is_tick([(CONTROL_HEADER, b"tock")]) and not is_tick([("x-other", b"tick")])
    assert not is_tick(None) and not is_tick([])
    assert decode_message(b"", None, [(CONTROL_HEADER, b"tick")]) is TICK_MESSAGE
    assert decode_message(b"", None, [("x-other", b"tick")]) == Rejected(EMPTY, "message value is empty")


def test_decode_message_default_limit_is_one_mib() -> None:
    from streams.codec import decode_message

    event = b'{"kind":"user","trajectory_id":"t","seq":0,"text":"'
    at_limit = event + b"x" * ((1 << 20) - len(event) - 2) + b'"}'
    assert len(at_limit) == 1 << 20
    out = decode_message(at_limit, b"t", None)
    assert not isinstance(out, Rejected) and len(out[0].text) == (1 << 20) - len(event) - 2
    over = decode_message(at_limit[:-2] + b'x"}', b"t", None)
    assert over == Rejected(OVERSIZE, f"{(1 << 20) + 1} bytes > limit {1 << 20}")


def test_dlq_headers_by_value_detail_cut_at_1000_bytes() -> None:
    from streams.codec import dlq_headers

    headers = dlq_headers(Rejected(SCHEMA, "é" * 600), "in", 3, 42)
    assert dict(headers) == {"x-error-reason": b"schema", "x-error-detail": ("é" * 500).encode(),
                             "x-source-topic": b"in", "x-source-partition": b"3", "x-source-offset": b"42"}
    assert len(dict(dlq_headers(Rejected(JSON, "d" * 1001), "in", 0, 0))["x-error-detail"]) == 1000


def test_big_integers_in_tool_call_arguments_are_rejected_without_attributes() -> None:
    call = {"kind": "tool_call", "trajectory_id": "t", "seq": 0, "tool": "f", "call_id": "c"}
    assert decode(json.dumps({**call, "arguments": {"n": 2**64}}).encode()) == Rejected(
        SCHEMA, "an integer outside [-2**63, 2**64 - 1] cannot be stored")
    out = decode(json.dumps({**call, "arguments": {"n": 2**64 - 1}}).encode())
    assert not isinstance(out, Rejected) and out[0].arguments == {"n": 2**64 - 1}


def test_output_encodings_by_value() -> None:
    one = conv("t", U("hi"))
    assert json.loads(encode_events(one)) == {"kind": "user", "trajectory_id": "t", "seq": 0, "text": "hi"}
    assert isinstance(json.loads(encode_events(conv("t", U("a"), U("b")))), list)
    record = json.loads(encode_signal("t", Signal(type="x.y.z", index=0), pipeline_version="1"))
    assert record == {"trajectory_id": "t", "pipeline_version": "1", "type": "x.y.z", "index": 0, "confidence": 1.0}
    mixed = decode(encode_events([*conv("d", U("1")), *conv("c", U("2")), *conv("b", U("3")), *conv("a", U("4"))]))
    assert mixed == Rejected(MIXED, "one envelope must carry one trajectory, got ['a', 'b', 'c']")
