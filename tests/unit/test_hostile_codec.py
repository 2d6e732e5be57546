"""Hostile Kafka message values: ``decode`` never raises; every input is events or a reasoned Rejected."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.model import EVENT_TYPES
from detectors.session import DEFAULT_ENGINE, Session
from sinks.rows import TS_RANGE, event_rows
from streams.codec import JSON, MIXED, OVERSIZE, REASONS, SCHEMA, Rejected, decode

KINDS = [t.__struct_config__.tag for t in EVENT_TYPES]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# Objects that look like events, with every field possibly of the wrong type.
event_like = st.fixed_dictionaries(
    {"kind": st.sampled_from([*KINDS, "future_kind", 3])},
    optional={"trajectory_id": st.text(max_size=6) | st.integers(), "seq": st.integers() | st.floats() | st.text(),
              "ts": st.none() | st.floats(allow_nan=False) | st.text(max_size=3) | st.integers(),
              "text": st.text() | st.none(), "attributes": json_values, "future_field": json_values},
)


def check(value: bytes, key: bytes | None = None) -> list[Any] | Rejected:
    """The property: no exception; a Rejected has a known reason and says something."""
    out = decode(value, key)
    if isinstance(out, Rejected):
        assert out.reason in REASONS and out.detail
    else:
        assert out and all(isinstance(event, EVENT_TYPES) for event in out)
    return out


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(value: bytes) -> None:
    check(value)


@settings(max_examples=200, deadline=None)
@given(json_values, st.none() | st.binary(max_size=4))
def test_arbitrary_json(value: Any, key: bytes | None) -> None:
    check(json.dumps(value).encode(), key)


@settings(max_examples=300, deadline=None)
@given(event_like | st.lists(event_like, max_size=4))
def test_event_shaped_garbage(value: Any) -> None:
    out = check(json.dumps(value).encode())
    if isinstance(out, list):  # accepted events must be usable downstream without crashing
        session = Session(out[0].trajectory_id)
        for event in out:
            session.feed(event)
        session.close()
        DEFAULT_ENGINE.encode_state(session.state)
        event_rows(out)


@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
def test_deep_nesting_is_rejected_not_a_recursion_error(depth: int) -> None:
    bare = b"[" * depth + b"]" * depth
    inside = b'{"kind":"user","trajectory_id":"t","seq":0,"attributes":{"a":' + bare + b"}}"
    for value in (bare, inside):
        out = decode(value, max_bytes=1 << 22)
        assert isinstance(out, Rejected) and out.reason in (JSON, SCHEMA)


def test_oversized_payload_names_its_size() -> None:
    value = b'{"kind":"user","trajectory_id":"t","seq":0,"text":"' + b"x" * (1 << 20) + b'"}'
    out = decode(value)
    assert isinstance(out, Rejected) and out.reason == OVERSIZE and str(len(value)) in out.detail


@pytest.mark.parametrize(("seq", "path"), [
    ("1e400", "$.seq"), ("-1", "$.seq"), (str(2**64), "$.seq"), (str(2**63), "$.seq"),
    ("1.5", "$.seq"), ("1.0", "$.seq"), ('"7"', "$.seq"), ("null", "$.seq"), ("NaN", ""),
])
def test_numeric_edge_cases_in_seq(seq: str, path: str) -> None:
    out = decode(f'{{"kind":"user","trajectory_id":"t","seq":{seq}}}'.encode())
    assert isinstance(out, Rejected) and out.detail
    assert path in out.detail


def test_largest_storable_seq_is_accepted_and_its_state_encodes() -> None:
    out = decode(f'{{"kind":"user","trajectory_id":"t","seq":{2**63 - 1}}}'.encode())
    assert isinstance(out, list)
    session = Session("t")
    session.feed(out[0])
    session.close()
    assert DEFAULT_ENGINE.decode_state(DEFAULT_ENGINE.encode_state(session.state)).closed


@pytest.mark.parametrize("ts", ['"abc"', "1e400", "[]", '{"s":1}'])
def test_bad_ts_is_a_schema_rejection(ts: str) -> None:
    out = decode(f'{{"kind":"user","trajectory_id":"t","seq":0,"ts":{ts}}}'.encode())
    assert isinstance(out, Rejected) and out.reason in (SCHEMA, JSON) and "ts" in out.detail


@pytest.mark.parametrize("ts", [1e308, -1e308, 1e18, -1.0, 0.0])
def test_extreme_but_valid_ts_is_accepted_and_stored_without_crash(ts: float) -> None:
    out = decode(msgspec.json.encode({"kind": "user", "trajectory_id": "t", "seq": 0, "ts": ts}))
    assert isinstance(out, list) and out[0].ts == ts
    row = event_rows(out)[0]
    assert TS_RANGE[0] * 1000 <= row[3] < TS_RANGE[1] * 1000  # Unix ms within DateTime64's years 1900-2299


def test_unknown_future_fields_are_accepted() -> None:
    out = decode(b'{"kind":"user","trajectory_id":"t","seq":0,"text":"hi","sentiment":{"v":2},"x":[1]}')
    assert isinstance(out, list) and out[0].text == "hi"


@pytest.mark.parametrize(("value", "path"), [
    (b'{"kind":"user","seq":0}', "`trajectory_id`"),
    (b'{"kind":"user","trajectory_id":"t"}', "`seq`"),
    (b'[{"kind":"user","trajectory_id":"t","seq":0},{"kind":"tool_call","trajectory_id":"t"}]', "$[1]"),
    (b'{"trajectory_id":"t","seq":0}', "kind"),
])
def test_missing_required_fields_name_the_path(value: bytes, path: str) -> None:
    out = decode(value)
    assert isinstance(out, Rejected) and out.reason == SCHEMA and path in out.detail


def test_envelope_mixing_trajectories_and_wrong_key() -> None:
    mixed = b'[{"kind":"user","trajectory_id":"a","seq":0},{"kind":"user","trajectory_id":"b","seq":1}]'
    out = decode(mixed)
    assert isinstance(out, Rejected) and out.reason == MIXED and "'a', 'b'" in out.detail
    one = b'{"kind":"user","trajectory_id":"a","seq":0}'
    for key in (b"b", b"\xff\xfe", b""):
        out = decode(one, key)
        assert isinstance(out, Rejected) and out.reason == "key_mismatch"
    assert isinstance(decode(one, b"a"), list)


@pytest.mark.parametrize("depth", [100, 900])
def test_deep_but_decodable_events_flow_through_session_and_rows(depth: int) -> None:
    nest = "[" * depth + '"a@b.io"' + "]" * depth
    value = (f'[{{"kind":"tool_call","trajectory_id":"t","seq":0,"tool":"x","call_id":"c","arguments":{{"a":{nest}}}}},'
             f'{{"kind":"tool_result","trajectory_id":"t","seq":1,"call_id":"c","result":"error: bad",'
             f'"attributes":{{"b":{nest}}}}}]').encode()
    out = decode(value, max_bytes=1 << 22)
    assert isinstance(out, list)
    session = Session("t")
    for event in out:
        session.feed(event)
    session.close()
    DEFAULT_ENGINE.encode_state(session.state)
    payloads = [row[-1] for row in event_rows(out, redact_content=True)]
    assert all("a@b.io" not in payload and "[email]" in payload for payload in payloads)
