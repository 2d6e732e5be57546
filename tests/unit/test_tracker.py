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
