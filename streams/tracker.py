"""In-memory index of the sessions this worker holds: what to close, and when.

Per input partition it keeps the event-time watermark (max event ``ts`` seen), a min-heap of open
sessions by last event ``ts`` (lazy invalidation: stale heap entries are skipped), the wall-clock
time each open session was last updated, and closed sessions in close order (for retention).
It is rebuilt from the session table after a restart or rebalance (``rebuilt`` is False until then).
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Entry:
    partition: int
    last_ts: float | None  # event time of the latest event (None: producer has no clock)
    wall: float  # wall clock of the latest update (open) or of the close (closed)
    closed: bool = False


@dataclass
class Tracker:
    gap_s: float
    entries: dict[bytes, Entry] = field(default_factory=dict)
    watermark: dict[int, float] = field(default_factory=dict)
    last_input: dict[int, float] = field(default_factory=dict)
    rebuilt: bool = False
    _heaps: dict[int, list[tuple[float, bytes]]] = field(default_factory=dict)
    _closed: dict[int, deque[tuple[float, bytes]]] = field(default_factory=dict)

    def observe(self, partition: int, ts: float | None) -> None:
        if ts is not None and ts > self.watermark.get(partition, float("-inf")):
            self.watermark[partition] = ts

    def update(self, key: bytes, partition: int, last_ts: float | None, now: float, *, closed: bool) -> None:
        self.entries[key] = Entry(partition, last_ts, now, closed)
        if closed:  # a late event on a closed session extends its retention: append again
            self._closed.setdefault(partition, deque()).append((now, key))
        elif last_ts is not None:
            heapq.heappush(self._heaps.setdefault(partition, []), (last_ts, key))

    def inactive(self, partition: int) -> list[bytes]:
        """Open sessions whose last event ts + gap is behind the partition's watermark."""
        mark, heap, out = self.watermark.get(partition), self._heaps.get(partition), []
        while mark is not None and heap and heap[0][0] + self.gap_s < mark:
            ts, key = heapq.heappop(heap)
            entry = self.entries.get(key)
            if entry and not entry.closed and entry.last_ts == ts:
                out.append(key)
        return out

    def idle(self, partition: int, now: float, idle_s: float) -> list[bytes]:
        return [k for k, e in self.entries.items()
                if e.partition == partition and not e.closed and now - e.wall >= idle_s]

    def has_open(self, partition: int) -> bool:
        return any(e.partition == partition and not e.closed for e in self.entries.values())

    def open_count(self) -> int:
        """Open sessions on every partition (the ``signals_open_sessions`` gauge)."""
        return sum(not e.closed for e in self.entries.values())

    def expired(self, partition: int, now: float, retention_s: float) -> list[bytes]:
        """Sessions of ``partition`` closed longer ago than ``retention_s`` (state may be dropped)."""
        out, closed = [], self._closed.get(partition, deque())
        while closed and now - closed[0][0] >= retention_s:
            wall, key = closed.popleft()
            entry = self.entries.get(key)
            if entry and entry.closed and entry.wall == wall:
                del self.entries[key]
                out.append(key)
        return out

    def reset(self) -> None:
        self.entries.clear()
        self._heaps.clear()
        self._closed.clear()
        self.rebuilt = False
