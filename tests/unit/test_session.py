"""Streaming == batch: the session's fold is order-, duplicate- and restart-insensitive."""

from __future__ import annotations

import random

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.base import EventView
from detectors.model import Event, SessionEnd, Signal
from detectors.session import DEFAULT_ENGINE, Engine, Session, analyze
from tests.builders import A, C, R, U, conv

USER_TEXTS = [
    "Book a flight to Rome tomorrow", "No, I meant the red sneakers", "Thank you so much!",
    "This is not great", "I NEED TO TALK TO A HUMAN RIGHT NOW!!", "forget it, i give up",
    "What does that mean?", "That works for me", "Book a flight to Rome tomorrow please",
    "why??", "Please reset the router in the office", "", "it worked, thanks",
]
ASSISTANT_TEXTS = ["Sure.", "I apologize, I cannot do that.", "Here are the options.", "Sure."]
TOOLS = ["search", "book", "lookup"]
RESULTS = ["ok", "Error: user not found", '{"timeout": 30}', "HTTP 429 too many requests",
           "read timed out", "permission denied", '{"error": "invalid date"}']


@st.composite
def trajectories(draw: st.DrawFn) -> list[Event]:
    specs = []
    for i in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from("uactr"))
        if kind == "u":
            specs.append(U(draw(st.sampled_from(USER_TEXTS))))
        elif kind == "a":
            specs.append(A(draw(st.sampled_from(ASSISTANT_TEXTS))))
        elif kind in "ct":
            args = {"q": draw(st.sampled_from(["x", "y"])), "n": draw(st.integers(0, 1))}
            specs.append(C(draw(st.sampled_from(TOOLS)), args, call_id=f"c{i}"))
            specs.append(R(draw(st.sampled_from(RESULTS)), call_id=f"c{i}"))
        else:
            specs.append(R(draw(st.sampled_from(RESULTS))))
    start = draw(st.one_of(st.none(), st.just(1_700_000_000.0)))
    step = draw(st.sampled_from([0.5, 5.0, 120.0]))
    return conv("t", *specs, start_ts=start, step=step)


def report_bytes(session: Session) -> bytes:
    return msgspec.json.encode(session.report())


@settings(max_examples=150, deadline=None)
@given(trajectories())
def test_incremental_signals_equal_batch_report(events: list[Event]) -> None:
    session = Session("t")
    emitted = []
    for event in events:
        emitted += session.feed(event)
    emitted += session.close()
    batch = analyze("t", events)
    assert msgspec.json.encode(session.report()) == msgspec.json.encode(batch)
    assert emitted == batch.signals


@settings(max_examples=100, deadline=None)
@given(trajectories(), st.randoms(use_true_random=False))
def test_order_duplicates_and_restarts_do_not_change_the_record(events: list[Event], rng: random.Random) -> None:
    delivered = events + rng.sample(events, k=len(events) // 3)  # at-least-once: some redelivered
    rng.shuffle(delivered)
    session = Session("t")
    for event in delivered:  # state round-trips through bytes between events, as in the worker
        state = DEFAULT_ENGINE.decode_state(DEFAULT_ENGINE.encode_state(session.state))
        session = Session("t", state=state)
        session.feed(event)
    session.close()
    assert msgspec.json.encode(session.report()) == msgspec.json.encode(analyze("t", events))


def test_session_end_closes_and_marks_final() -> None:
    events = conv("t", U("hi"), A("hello"))
    session = Session("t")
    for event in events:
        session.feed(event)
    assert session.report().final is False and not session.state.ended
    session.feed(SessionEnd(trajectory_id="t", seq=2))
    assert session.state.ended and not session.state.closed  # the end event is seen; closing is the caller's
    session.close()
    report = session.report()
    assert report.final is True and report.events == 3


class ToolEcho:
    """A minimal detector: one signal per tool result naming the tool the session attributed it to."""

    name = "echo"
    kinds = frozenset({"tool_result"})
    state_type = msgspec.Struct

    def on_event(self, state: object, view: EventView) -> list[Signal]:
        return [Signal(type="execution.failure.invalid_args", index=view.index, tool=view.tool)]

    def on_close(self, state: object, close: object) -> list[Signal]:
        return []


def test_results_are_attributed_by_call_id_not_to_the_last_call() -> None:
    events = conv("t", C("book_hotel", {"city": "Rome"}, call_id="a"), C("get_weather", {"city": "Rome"}, call_id="b"),
                  R("Error: missing required parameter 'dates'", call_id="a"), R("22C", call_id="b"),
                  R("orphan result without id"))
    report = analyze("t", events, engine=Engine([ToolEcho()]))
    assert [(s.index, s.tool) for s in report.signals] == [(2, "book_hotel"), (3, "get_weather"), (4, "get_weather")]


def test_storage_key_fields_never_change_as_the_session_grows() -> None:
    """tenant/agent/first_ts order ClickHouse rows: a refreshed record must keep them."""
    events = conv("t", U("hi", agent_id="a1", tenant_id="acme"), A("hello", agent_id="a2"),
                  U("later", ts=50.0, agent_id="a3"), A("x", ts=10.0))
    session = Session("t")
    seen = set()
    for event in events:
        session.feed(event)
        report = session.report()
        seen.add((report.tenant_id, report.agent_id, report.first_ts))
    assert seen == {("acme", "a1", None)}
    assert session.report().last_ts == 50.0


def test_reorder_buffer_is_bounded_in_bytes_not_only_in_events() -> None:
    from detectors.session import MAX_REORDER_BYTES

    big = "x" * (1 << 20)
    events = conv("t", U("first"), *[R(big) for _ in range(12)])
    session = Session("t")
    for event in events[1:]:  # seq 0 never arrives
        session.feed(event)
        assert session.state.pending_bytes <= MAX_REORDER_BYTES
        assert session.state.pending_bytes == sum(len(msgspec.msgpack.encode(e)) for e in session.state.pending)
    assert session.state.gaps == 1 and session.state.next_seq == 13


def test_reorder_buffer_counts_every_field_of_a_buffered_event() -> None:
    from detectors.session import MAX_REORDER_BYTES

    big = {"blob": "y" * (1 << 20)}
    events = conv("t", U("first"), *[C("upload", big, attributes={"note": "z" * 1000}) for _ in range(8)])
    session = Session("t")
    for event in events[1:]:
        session.feed(event)
        assert session.state.pending_bytes <= MAX_REORDER_BYTES
    assert session.state.gaps == 1



# ---- the session's features by value (issue 17: mutation survivors)
def test_features_of_one_trajectory_by_value() -> None:
    from detectors.features import Features
    from tests.builders import Fb

    assert msgspec.structs.asdict(Features()) == {
        "events": 0, "user_turns": 0, "assistant_turns": 0, "tool_calls": 0, "tool_results": 0, "tool_errors": 0,
        "state_changes": 0, "failed_state_changes": 0, "retried_state_changes": 0, "handoffs": 0, "user_chars": 0,
        "assistant_chars": 0, "distinct_tools": [], "feedback_score": None, "first_ts": None, "last_ts": None,
        "task_key": "", "context_key": "", "request_key": "", "user_key": "", "actions": []}
    events = conv(
        "t",
        U("hi, my order is #W12345 please", attributes={"task": "t-7", "system_sha256": "abc"}),
        A("looking"),
        C("get_order_details", {"order_id": "#W99887"}, call_id="c1"),
        R('{"status": "ok"}', call_id="c1"),
        C("cancel_order", {"order_id": "#W99887", "reason": "no"}, call_id="c2"),
        R("Error: cannot cancel", call_id="c2", is_error=True),
        C("cancel_order", {"order_id": "#W99887", "reason": "No "}, call_id="c3"),  # retried after a failure
        R("done", call_id="c3"),
        C("transfer_to_human_agents", {}, call_id="c4"),
        R("transferred", call_id="c4"),
        A("bye now"),
        Fb(0.25),
        start_ts=100.0)
    session = Session("t")
    for event in events:
        session.feed(event)
    assert msgspec.structs.asdict(session.state.features) == {
        "events": 12, "user_turns": 1, "assistant_turns": 2, "tool_calls": 4, "tool_results": 4, "tool_errors": 1,
        "state_changes": 1, "failed_state_changes": 1, "retried_state_changes": 1, "handoffs": 1,
        "user_chars": 30, "assistant_chars": 14,
        "distinct_tools": ["get_order_details", "cancel_order", "transfer_to_human_agents"],
        "feedback_score": 0.25, "first_ts": 100.0, "last_ts": 111.0, "task_key": "t-7", "context_key": "abc",
        "request_key": "w99887",  # the first tool call's identifier beats the user's
        "user_key": "w12345", "actions": ["91991266f4a2e843"]}  # the one successful cancel


def _features_of(*specs: dict) -> object:
    session = Session("t")
    for event in conv("t", *specs):
        session.feed(event)
    return session.state.features


def test_feature_caps_keys_and_first_lookup_by_value() -> None:
    from detectors.features import first_identifier

    many = _features_of(U("x", attributes={"task": "k" * 300, "system_sha256": "s" * 100}),
                        *[C(f"tool_{i}", call_id=f"c{i}") for i in range(40)])
    assert many.distinct_tools == [f"tool_{i}" for i in range(32)]  # at most 32 tool names
    assert (many.task_key, many.context_key) == ("k" * 200, "s" * 64)
    assert first_identifier(" " * 4091 + "ab123") == "ab123"  # ends at character 4096: scanned
    assert first_identifier(" " * 4092 + "ab123") == ""  # cut at 4096 to "ab12": too short
    assert first_identifier("1abcd") == "1abcd"
    for first, second in ((1, 2), (2, 1)):
        f = _features_of(C("get_user", {"id": "aa11111"}, call_id="a"), R("ok", call_id="a"),
                         C("get_user", {"id": "bb22222"}, call_id="b"), R("ok", call_id="b"),
                         C("book_flight", {"f": first}, call_id="x"), R("ok", call_id="x"),
                         C("book_flight", {"f": second}, call_id="y"), R("ok", call_id="y"),
                         C("book_flight", {"f": second}, call_id="z"), R("Error: full", call_id="z", is_error=True))
        assert f.request_key == "aa11111"  # the first call's lookup, not a later one
        assert (f.state_changes, f.failed_state_changes, f.tool_errors) == (2, 1, 1)
        assert len(f.actions) == 2 and f.actions == sorted(f.actions)  # two actions differing by a number


def test_session_caps_by_literal_value_and_the_engine_keeps_its_triage() -> None:
    from detectors import session as session_module
    from detectors.triage import TriageConfig, packaged_config

    assert (session_module.MAX_OPEN_CALLS, session_module.MAX_REORDER, session_module.MAX_REORDER_BYTES,
            session_module.MAX_SIGNALS) == (64, 256, 4 << 20, 500)
    custom = TriageConfig(bias=-3.0)
    assert Engine(triage=custom).triage is custom
    assert Engine().triage is packaged_config()


def test_feed_returns_a_list_for_a_duplicate_a_buffered_and_an_applied_event() -> None:
    events = conv("d", U("No, that's wrong, I said Paris"), A("Sorry."), U("bye"))
    session = Session("d")
    assert session.feed(events[1]) == []  # ahead of seq 0: buffered
    applied = session.feed(events[0])  # frees the buffered one
    assert isinstance(applied, list) and applied and session.state.next_seq == 2
    assert session.feed(events[0]) == [] and session.feed(events[1]) == []  # duplicates
    assert session.state.duplicates == 2
