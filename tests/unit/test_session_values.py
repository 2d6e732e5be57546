"""The session's bookkeeping by value, at its bounds (issue 17: mutation survivors of detectors/session.py).

The reorder buffer gives up at 257 events or more than MAX_REORDER_BYTES; the record keeps the first
500 signals with exact counts past them; 64 open calls are remembered for attribution; detectors
see the last applied index at close. Fast on purpose: tools/mutate.py runs this file first.
"""

from __future__ import annotations

from typing import Any

import msgspec

from detectors.base import CallRef, CloseView, EventView
from detectors.model import Signal, UserMessage
from detectors.session import Engine, Session
from tests.builders import C, R, U, conv


class Recorder:
    """A minimal detector: one signal per event of its kinds; it keeps every view's call and the close view."""

    name = "recorder"
    state_type = msgspec.Struct

    def __init__(self, kinds: frozenset[str] = frozenset({"user", "tool_call", "tool_result"})) -> None:
        self.kinds = kinds
        self.calls: list[CallRef | None] = []
        self.closes: list[CloseView] = []

    def on_event(self, state: object, view: EventView) -> list[Signal]:
        self.calls.append(view.call)
        return [Signal(type=f"test.{view.kind}", index=view.index)]

    def on_close(self, state: object, close: CloseView) -> list[Signal]:
        self.closes.append(close)
        return []


# literal values, not the module's constants: a changed bound must fail here
MAX_REORDER, MAX_REORDER_BYTES, MAX_SIGNALS = 256, 4 << 20, 500


def user(seq: int, text: str = "x") -> UserMessage:
    return UserMessage(trajectory_id="t", seq=seq, text=text)


def size(event: Any) -> int:
    return len(msgspec.msgpack.encode(event))


def test_the_reorder_buffer_holds_exactly_max_reorder_events() -> None:
    session = Session("t")
    for seq in range(1, MAX_REORDER + 1):  # seq 0 is missing
        assert session.feed(user(seq)) == []
    assert (len(session.state.pending), session.state.gaps, session.state.next_seq) == (MAX_REORDER, 0, 0)
    session.feed(user(MAX_REORDER + 1))  # one more: the gap is given up on, everything applied
    assert (len(session.state.pending), session.state.gaps) == (0, 1)
    assert session.state.next_seq == MAX_REORDER + 2 and session.state.features.events == MAX_REORDER + 1


def test_the_reorder_buffer_holds_exactly_max_reorder_bytes() -> None:
    first = user(1)
    head = user(2, "")
    text = "y" * (MAX_REORDER_BYTES - size(first) - size(head))
    exact = user(2, text)
    while size(first) + size(exact) > MAX_REORDER_BYTES:  # the string header grows with the text
        text = text[:-1]
        exact = user(2, text)
    exact = user(2, text + "y" * (MAX_REORDER_BYTES - size(first) - size(exact)))
    assert size(first) + size(exact) == MAX_REORDER_BYTES
    held = Session("t")
    held.feed(first)
    held.feed(exact)
    assert (held.state.pending_bytes, held.state.gaps, len(held.state.pending)) == (MAX_REORDER_BYTES, 0, 2)
    over = Session("t")
    over.feed(first)
    over.feed(user(2, exact.text + "y"))  # one byte more: the gap before seq 1 is given up on
    assert (over.state.pending_bytes, over.state.gaps, over.state.next_seq) == (0, 1, 3)


def test_pending_bytes_follow_every_buffered_and_released_event() -> None:
    session = Session("t")
    events = [user(seq, "z" * seq) for seq in (3, 1, 2)]
    for count, event in enumerate(events, 1):
        session.feed(event)
        assert session.state.pending_bytes == sum(size(e) for e in events[:count])
    session.feed(user(0))
    assert (session.state.pending_bytes, session.state.pending, session.state.next_seq) == (0, [], 4)


def test_the_record_keeps_the_first_500_signals_and_counts_all() -> None:
    recorder = Recorder(frozenset({"user"}))
    session = Session("t", engine=Engine([recorder]))
    for seq in range(MAX_SIGNALS + 100):
        session.feed(user(seq))
    session.close()
    report = session.report()
    assert [s.index for s in report.signals] == list(range(MAX_SIGNALS))
    assert report.counts == {"test.user": MAX_SIGNALS + 100}


def test_counts_per_type_by_value() -> None:
    recorder = Recorder()
    report_of = Session("t", engine=Engine([recorder]))
    for event in conv("t", U("a"), C("search", call_id="c1"), R("ok", call_id="c1"), U("b"), U("c")):
        report_of.feed(event)
    assert report_of.report().counts == {"test.user": 3, "test.tool_call": 1, "test.tool_result": 1}


def test_64_open_calls_are_remembered_for_attribution() -> None:
    recorder = Recorder(frozenset({"tool_result"}))
    calls = [C(f"tool_{i}", call_id=f"c{i}") for i in range(65)]  # the 65th drops the oldest (c0)
    events = conv("t", *calls, R("ok", call_id="c0"), R("ok", call_id="c1"), R("ok", tool="named"), R("ok"))
    session = Session("t", engine=Engine([recorder]))
    for event in events:
        session.feed(event)
    assert recorder.calls == [
        CallRef("tool_64", 64, ""),  # c0 was forgotten: the latest call
        CallRef("tool_1", 1, ""),  # c1 still open: by its id
        CallRef("named", -1, ""),  # no open call, a named tool: no call index
        CallRef("tool_64", 64, ""),  # neither: the latest call
    ]


def test_detectors_see_the_last_applied_index_at_close() -> None:
    recorder = Recorder()
    session = Session("t", engine=Engine([recorder]))
    for event in conv("t", U("a"), U("b"), C("search", call_id="c1"), start_ts=50.0):
        session.feed(event)
    session.feed(user(7))  # buffered behind a gap: applied at the close
    session.close()
    assert recorder.closes == [CloseView(last_index=7, last_ts=52.0, user_turns=3)]


def test_at_most_32_distinct_actions_are_kept() -> None:
    calls = [spec for i in range(40) for spec in (C("cancel_order", {"order_id": f"#W{10000 + i}"}, call_id=f"c{i}"),
                                                  R("done", call_id=f"c{i}"))]
    session = Session("t")
    for event in conv("t", *calls):
        session.feed(event)
    actions = session.state.features.actions
    assert len(actions) == 32 and actions == sorted(actions)
    assert session.state.features.state_changes == 40


def test_closing_a_closed_session_emits_nothing_and_changes_nothing() -> None:
    session = Session("t")
    for event in conv("t", U("a"), C("search", call_id="c1")):
        session.feed(event)
    first = session.close()
    before = msgspec.json.encode(session.report())
    assert first == [] and session.close() == []
    assert msgspec.json.encode(session.report()) == before
