"""Hostile event streams for one session: duplicates, disorder, gaps, floods, giant messages.

Accounting property: every fed event is applied (``features.events``), dropped as a duplicate or
late (``duplicates``: seq below the next expected one) or still waiting in the bounded reorder
buffer (``pending``; empty once closed). Given-up gaps are counted in ``gaps``.
"""

from __future__ import annotations

import random

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.model import AssistantMessage, Event, ToolCall, ToolResult, UserMessage
from detectors.session import DEFAULT_ENGINE, MAX_REORDER, MAX_SIGNALS, Session
from sinks.rows import event_rows, signal_rows, trajectory_row
from streams.codec import encode_report

STATE_BOUND = 256 * 1024  # bytes of encoded session state, whatever the session's length


def event(seq: int, *, ts: float | None = None) -> Event:
    """A realistic mix: user, assistant, a tool call and its (sometimes failing) result."""
    kind = seq % 4
    if kind == 0:
        return UserMessage(trajectory_id="t", seq=seq, ts=ts, text=f"no, I said flight HAT{seq % 97:03d} please")
    if kind == 1:
        return AssistantMessage(trajectory_id="t", seq=seq, ts=ts, text=f"Let me check reservation {seq}.")
    if kind == 2:
        return ToolCall(trajectory_id="t", seq=seq, ts=ts, tool="get_reservation", call_id=f"c{seq}",
                        arguments={"id": f"R{seq % 5}"})
    return ToolResult(trajectory_id="t", seq=seq, ts=ts, call_id=f"c{seq - 1}",
                      result="Error: reservation not found" if seq % 8 == 3 else '{"status": "ok"}')


def feed_all(events: list[Event]) -> Session:
    session = Session("t")
    for item in events:
        session.feed(item)
        assert len(session.state.pending) <= MAX_REORDER
    return session


def accounted(session: Session) -> int:
    state = session.state
    return state.features.events + state.duplicates + len(state.pending)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=-3, max_value=700), max_size=400), st.booleans())
def test_every_event_is_accounted_for(seqs: list[int], close: bool) -> None:
    session = feed_all([event(seq) for seq in seqs])
    if close:
        session.close()
        assert not session.state.pending
    assert accounted(session) == len(seqs)
    applied = {seq for seq in seqs if seq >= 0}
    assert session.state.features.events <= len(applied)  # nothing applied twice


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=900) | st.sampled_from([257, 258, 600, 900]), st.randoms(use_true_random=False),
       st.floats(min_value=0, max_value=0.3), st.floats(min_value=0, max_value=0.3))
def test_accounting_under_overflowing_disorder(n: int, rng: random.Random, dropped: float, replayed: float) -> None:
    kept = [seq for seq in range(n) if rng.random() >= dropped]  # gaps that never fill
    seqs = kept + [seq for seq in kept if rng.random() < replayed]
    rng.shuffle(seqs)  # displacement up to n: the buffer overflows and gives up on gaps
    session = feed_all([event(seq) for seq in seqs])
    assert accounted(session) == len(seqs)
    session.close()
    state = session.state
    assert state.features.events + state.duplicates == len(seqs)
    assert state.features.events <= len(set(kept))  # no event applied twice
    if state.gaps == 0:  # nothing given up on: every distinct event applied, every replay dropped
        assert state.features.events == len(set(kept))
    # An event arriving after its gap was given up on is counted in `duplicates` (late and
    # duplicate share the counter): the record still never double-counts it.


def test_overflow_applies_the_lowest_event_exactly_once() -> None:
    # Regression: when the buffer overflowed on an event lower than everything buffered, that event
    # was applied AND left in the buffer, then applied a second time at the next overflow.
    seqs = [*range(2, MAX_REORDER + 2), 1, MAX_REORDER + 2]
    session = feed_all([event(seq) for seq in seqs])
    assert not session.state.pending and session.state.next_seq == MAX_REORDER + 3
    session.close()
    assert session.state.features.events == len(seqs) and session.state.gaps == 1


def test_duplicates_and_disorder_do_not_change_the_record() -> None:
    events = [event(seq, ts=1000.0 + seq) for seq in range(300)]
    rng = random.Random(7)
    noisy = events + rng.sample(events, 100)
    rng.shuffle(noisy)  # displacement far beyond the buffer: gaps are given up on, then events are late
    ordered = feed_all(events)
    ordered.close()
    local = [e for block in range(0, 300, 50) for e in rng.sample(events[block:block + 50], 50)]
    shuffled = feed_all(local + rng.sample(events, 60))  # disorder within the buffer, then replays
    shuffled.close()
    assert shuffled.report() == ordered.report()
    assert shuffled.state.duplicates == 60
    chaotic = feed_all(noisy)
    chaotic.close()
    assert accounted(chaotic) == len(noisy)


def test_huge_seq_jumps_are_buffered_then_applied_at_close() -> None:
    seqs = [0, 10**15, 2**63 - 1, 5]
    session = feed_all([event(seq) for seq in seqs])
    assert session.state.features.events == 1 and len(session.state.pending) == 3
    session.close()
    assert session.state.features.events == 4 and session.state.gaps == 3
    restored = DEFAULT_ENGINE.decode_state(DEFAULT_ENGINE.encode_state(session.state))
    assert restored.next_seq == 2**63


def test_flood_of_100k_out_of_order_events_keeps_state_bounded() -> None:
    rng = random.Random(1)
    n = 100_000
    order = list(range(n))
    for start in range(0, n, 200):  # every event displaced within a window smaller than the buffer
        block = order[start:start + 200]
        rng.shuffle(block)
        order[start:start + 200] = block
    session = Session("t")
    largest = 0
    for position, seq in enumerate(order):
        session.feed(event(seq, ts=float(seq)))
        if position % 10_000 == 0:
            largest = max(largest, len(DEFAULT_ENGINE.encode_state(session.state)))
    session.close()
    encoded = DEFAULT_ENGINE.encode_state(session.state)
    largest = max(largest, len(encoded))
    assert session.state.features.events == n and session.state.gaps == 0
    assert len(session.state.signals) <= MAX_SIGNALS
    assert largest < STATE_BOUND, f"state grew to {largest} bytes"
    # its cost (linear in events) is measured by bench/bench_hostile.py, not asserted here
    report = session.report()
    encode_report(report)
    trajectory_row(report)
    signal_rows(report)


def test_one_megabyte_messages_keep_state_and_snippets_small() -> None:
    huge = "please help me change my flight " * (1 << 15)  # ~1 MB
    events = [UserMessage(trajectory_id="t", seq=0, text=huge), AssistantMessage(trajectory_id="t", seq=1, text=huge),
              UserMessage(trajectory_id="t", seq=2, text=huge.upper())]
    session = feed_all(events)  # its cost: bench/bench_hostile.py
    session.close()
    assert len(DEFAULT_ENGINE.encode_state(session.state)) < STATE_BOUND  # texts are not kept in state
    assert all(len(signal.snippet) <= 200 for signal in session.report().signals)


@pytest.mark.parametrize("ts", [1e308, -1e308, 0.0, 1e18])
def test_extreme_timestamps_do_not_crash_the_record(ts: float) -> None:
    events = [event(0, ts=ts), event(1, ts=-ts), event(2, ts=ts), event(3, ts=None)]
    session = feed_all(events)
    session.close()
    report = session.report()
    msgspec.json.decode(encode_report(report))
    trajectory_row(report)
    event_rows(events)
