"""The worker's session index: which sessions are open, inactive, idle or past retention."""

from __future__ import annotations

from streams.tracker import Tracker


def test_open_count_follows_updates_closes_and_expiry() -> None:
    tracker = Tracker(gap_s=10.0)
    tracker.update(b"a", 0, 100.0, now=1.0, closed=False)
    tracker.update(b"b", 1, 100.0, now=1.0, closed=False)
    tracker.update(b"c", 1, None, now=1.0, closed=False)
    assert tracker.open_count() == 3
    tracker.update(b"b", 1, 105.0, now=2.0, closed=True)
    assert tracker.open_count() == 2
    assert tracker.has_open(1) and tracker.has_open(0)
    assert tracker.expired(1, now=50.0, retention_s=10.0) == [b"b"]
    assert tracker.open_count() == 2
    tracker.reset()
    assert tracker.open_count() == 0


def test_inactive_returns_sessions_behind_the_watermark_once() -> None:
    tracker = Tracker(gap_s=10.0)
    tracker.update(b"old", 0, 100.0, now=1.0, closed=False)
    tracker.update(b"new", 0, 115.0, now=1.0, closed=False)
    tracker.observe(0, 120.0)
    assert tracker.inactive(0) == [b"old"]
    assert tracker.inactive(0) == []


def test_watermark_only_moves_forward_and_ignores_clockless_events() -> None:
    tracker = Tracker(gap_s=10.0)
    tracker.observe(0, None)
    assert tracker.watermark == {}
    tracker.observe(0, 120.0)
    tracker.observe(0, 110.0)
    tracker.observe(0, 120.0)
    assert tracker.watermark == {0: 120.0}


def test_inactive_edges_exact_gap_stale_heap_entries_and_closed_sessions() -> None:
    tracker = Tracker(gap_s=10.0)
    tracker.update(b"edge", 0, 110.0, now=1.0, closed=False)  # 110 + 10 == 120: not behind yet
    tracker.update(b"moved", 0, 100.0, now=1.0, closed=False)
    tracker.update(b"moved", 0, 118.0, now=2.0, closed=False)  # its old heap entry (100) is stale
    tracker.update(b"shut", 0, 100.0, now=1.0, closed=False)
    tracker.update(b"shut", 0, 100.0, now=2.0, closed=True)
    tracker.observe(0, 120.0)
    assert tracker.inactive(0) == []
    assert tracker.inactive(1) == []
    tracker.observe(0, 120.5)
    assert tracker.inactive(0) == [b"edge"]
    tracker.observe(0, 128.5)
    assert tracker.inactive(0) == [b"moved"]


def test_idle_and_expiry_edges() -> None:
    tracker = Tracker(gap_s=10.0)
    tracker.update(b"a", 0, None, now=10.0, closed=False)
    tracker.update(b"b", 1, None, now=10.0, closed=False)
    assert tracker.idle(0, now=14.9, idle_s=5.0) == []
    assert tracker.idle(0, now=15.0, idle_s=5.0) == [b"a"]
    tracker.update(b"a", 0, None, now=20.0, closed=True)
    assert tracker.idle(0, now=99.0, idle_s=5.0) == [] and not tracker.has_open(0)
    tracker.update(b"a", 0, None, now=30.0, closed=True)  # a late event: retention counts from 30
    assert tracker.expired(0, now=39.0, retention_s=10.0) == []  # the entry from 20 is stale
    assert b"a" in tracker.entries
    assert tracker.expired(0, now=40.0, retention_s=10.0) == [b"a"]
    assert b"a" not in tracker.entries and tracker.expired(0, now=99.0, retention_s=10.0) == []


def test_reset_forgets_heaps_closed_queues_and_the_rebuilt_flag() -> None:
    tracker = Tracker(gap_s=1.0)
    tracker.update(b"a", 0, 1.0, now=1.0, closed=False)
    tracker.update(b"b", 0, 1.0, now=1.0, closed=True)
    tracker.rebuilt = True
    tracker.reset()
    assert not tracker.rebuilt and tracker.entries == {}
    assert tracker._heaps == {} and tracker._closed == {}  # nothing kept for the sessions it forgot
    tracker.update(b"a", 0, 1.0, now=2.0, closed=False)  # the same session again after the reset
    tracker.observe(0, 10.0)
    assert tracker.inactive(0) == [b"a"]  # once: a heap entry kept from before would return it twice
