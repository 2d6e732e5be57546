"""Replay core: input messages of an offset range -> the same trajectory records as the worker.

Pure (no Kafka, no Faust): ``Replayer.message(partition, offset, key, value)`` per input message,
in offset order per partition; ``finish()`` at the end of the range. Records go to an ``Output``.

- Decoding, ordering, closing and report content are the worker's (``streams.codec.decode``,
  ``detectors.session.Session``, close on an applied SessionEnd or when the partition's event-time
  watermark passes last ts + the inactivity gap): content depends only on the events.
- Whole sessions: reading starts ``lookback`` before the range; a session is emitted only if it
  has a message inside the range (``offset >= start``). A session whose lowest seq seen is > 0
  started before the lookback: it is *partial* -- skipped (default) or written non-final with a
  ``partial: ...`` reason (``write_partial``). A closed trajectory's later events are ``late``.
- Resumable: ``restart_offset(p)`` is the first offset of the oldest open session on ``p`` (or the
  next offset to read): re-reading from it rebuilds every open session; records of sessions closed
  in between are re-emitted identically (idempotent downstream).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from detectors.model import Event, TrajectoryReport
from detectors.session import DEFAULT_ENGINE, Engine, Session
from streams.codec import Rejected, decode
from streams.tracker import Tracker

MAX_CLOSED_IDS = 100_000  # closed trajectory ids remembered to recognise late events


class Output(Protocol):
    def emit(self, report: TrajectoryReport, events: list[Event]) -> None: ...
    def reject(self, partition: int, offset: int, key: bytes | None, value: bytes | None,
               rejected: Rejected) -> None: ...


@dataclass
class Counters:
    messages: int = 0
    events: int = 0
    records: int = 0
    final: int = 0
    open_at_end: int = 0
    partial_skipped: int = 0
    partial_written: int = 0
    late: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


@dataclass
class Open:
    session: Session
    partition: int
    first_offset: int
    in_range: bool = False
    min_seq: int = 1 << 62
    events: list[Event] = field(default_factory=list)


class Replayer:
    def __init__(self, starts: dict[int, int], output: Output, *, pipeline_version: str,
                 gap_s: float = 1800.0, max_event_bytes: int = 1 << 20, write_partial: bool = False,
                 engine: Engine = DEFAULT_ENGINE) -> None:
        self.starts, self.output, self.version, self.engine = starts, output, pipeline_version, engine
        self.max_event_bytes, self.write_partial = max_event_bytes, write_partial
        self.tracker = Tracker(gap_s=gap_s)
        self.open: dict[str, Open] = {}
        self.closed: OrderedDict[str, None] = OrderedDict()
        self.next_offset: dict[int, int] = {}
        self.counters = Counters()

    # -- input ---------------------------------------------------------------------------
    def message(self, partition: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        self.next_offset[partition] = offset + 1
        in_range = offset >= self.starts.get(partition, 0)
        self.counters.messages += in_range
        decoded = decode(value, key, max_bytes=self.max_event_bytes)
        if isinstance(decoded, Rejected):
            if in_range:
                self._reject(partition, offset, key, value, decoded)
            return
        self.counters.events += len(decoded) if in_range else 0
        tid = decoded[0].trajectory_id
        item = self.open.get(tid) or self._start(tid, partition, offset)
        if item is None:
            self.counters.late += in_range
            return
        item.in_range |= in_range
        self._feed(tid, item, decoded)

    def _start(self, tid: str, partition: int, offset: int) -> Open | None:
        if tid in self.closed:
            return None
        item = self.open[tid] = Open(Session(tid, engine=self.engine), partition, offset)
        return item

    def _feed(self, tid: str, item: Open, events: list[Event]) -> None:
        state = item.session.state
        for event in events:
            self.tracker.observe(item.partition, event.ts)
            item.min_seq = min(item.min_seq, event.seq)
            item.session.feed(event)
        item.events += events
        if state.ended:
            self._close(tid, item)
        else:
            self.tracker.update(tid.encode(), item.partition, state.features.last_ts, 0.0, closed=False)

    def batch_done(self, partition: int) -> None:
        """After a fetched batch of ``partition``: close sessions idle in event time (as the worker)."""
        for key in self.tracker.inactive(partition):
            item = self.open.get(key.decode())
            if item is not None:
                self._close(key.decode(), item)

    # -- output --------------------------------------------------------------------------
    def _close(self, tid: str, item: Open) -> None:
        item.session.close()
        del self.open[tid]
        self.tracker.entries.pop(tid.encode(), None)  # its heap entry is skipped from now on
        self.closed[tid] = None
        if len(self.closed) > MAX_CLOSED_IDS:
            self.closed.popitem(last=False)
        if item.in_range:
            self._emit(item)

    def _emit(self, item: Open) -> None:
        report = item.session.report(pipeline_version=self.version)
        if item.min_seq > 0:
            report = self._partial(item)
            if report is None:
                return
        self.counters.records += 1
        self.counters.final += report.final
        self.output.emit(report, item.events)

    def _partial(self, item: Open) -> TrajectoryReport | None:
        if not self.write_partial:
            self.counters.partial_skipped += 1
            return None
        self.counters.partial_written += 1
        item.session.close()  # apply the buffered events; the record still says final=false
        report = item.session.report(pipeline_version=self.version)
        reason = f"partial: events before seq {item.min_seq} were not replayed (widen --lookback)"
        return msgspec.structs.replace(report, final=False, reasons=[*report.reasons, reason])

    def _reject(self, partition: int, offset: int, key: bytes | None, value: bytes | None,
                rejected: Rejected) -> None:
        counts = self.counters.rejected
        counts[rejected.reason] = counts.get(rejected.reason, 0) + 1
        self.output.reject(partition, offset, key, value, rejected)

    def finish(self) -> None:
        """End of the range: open sessions with messages in range are emitted non-final."""
        for item in list(self.open.values()):
            if item.in_range:
                self.counters.open_at_end += item.min_seq == 0
                self._emit(item)

    # -- checkpoints ---------------------------------------------------------------------
    def restart_offset(self, partition: int, default: int) -> int:
        firsts = [o.first_offset for o in self.open.values() if o.partition == partition]
        return min([self.next_offset.get(partition, default), *firsts])
