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
