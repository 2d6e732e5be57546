"""Replay core: input messages of an offset range -> the same trajectory records as the worker.

Pure (no Kafka, no Faust): ``Replayer.message(partition, offset, key, value)`` per input message,
in offset order per partition; ``finish()`` at the end of the range. Records go to an ``Output``.

- Decoding (idle ticks included), grouping, feeding and closing are the worker's:
  ``streams.pipeline.Pipeline`` per fetched batch of a partition (close on an applied SessionEnd
  or when the partition's event-time watermark passes last ts + the inactivity gap; no wall-clock
  idle close in a backfill). Closed sessions are emitted and dropped.
- Whole sessions: reading starts ``lookback`` before the range; a session is emitted only if it
  has a message inside the range (``offset >= start``). A session whose lowest seq seen is > 0
  started before the lookback: it is *partial* -- skipped (default) or written non-final with a
  ``partial: ...`` reason (``write_partial``). A closed trajectory's later events are ``late``.
- Resumable: ``restart_offset(p)`` is the first offset of the oldest open session on ``p`` (or the
  next offset to read): re-reading from it rebuilds every open session; records of sessions closed
  in between are re-emitted identically (idempotent downstream).

The package: this module is the pure core; ``range`` (bounds -> offsets), ``kafka`` (the loop over
Kafka, checkpoints), ``output`` (ClickHouse, topics, DLQ), ``checkpoint`` (the checkpoint file) and
``report`` (dry run, progress, summary) adapt it to Kafka and to `signals replay`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from detectors.model import Event, TrajectoryReport
from detectors.session import DEFAULT_ENGINE, Engine, Session
from streams.codec import Headers, Rejected, Tick
from streams.pipeline import Group, MemoryStore, Outcome, Pipeline

__all__ = ["MAX_CLOSED_IDS", "Counters", "Open", "Output", "Replayer"]

MAX_CLOSED_IDS = 100_000  # closed trajectory ids remembered to recognise late events
# (partition, agent id, signal type, event time) of every signal, as the worker publishes them
SignalSink = Callable[[int, str, str, "float | None"], None]


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
    ticks: int = 0  # the worker's idle ticks: skipped, never rejected
    rejected: dict[str, int] = field(default_factory=dict)


@dataclass
class Open:
    partition: int
    first_offset: int
    in_range: bool = False
    min_seq: int = 1 << 62
    events: list[Event] = field(default_factory=list)


class _Message:  # what Pipeline.decode reads
    __slots__ = ("headers", "key", "value")

    def __init__(self, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        self.key, self.value, self.headers = key, value, headers


class Replayer:
    def __init__(self, starts: dict[int, int], output: Output, *, pipeline_version: str,
                 gap_s: float = 1800.0, max_event_bytes: int = 1 << 20, write_partial: bool = False,
                 engine: Engine = DEFAULT_ENGINE, on_signal: SignalSink | None = None) -> None:
        self.starts, self.output, self.version = starts, output, pipeline_version
        self.on_signal = on_signal  # e.g. a streams.alerts.SpikeDetector's observe: the worker's alerts
        self.write_partial = write_partial
        self.store = MemoryStore()
        self.pipeline = Pipeline(self.store, engine=engine, gap_s=gap_s, closed_retention_s=0.0,
                                 max_event_bytes=max_event_bytes)
        self.pipeline.tracker.rebuilt = True  # nothing stored before a replay
        self.open: dict[str, Open] = {}
        self.closed: OrderedDict[str, None] = OrderedDict()
        self.next_offset: dict[int, int] = {}
        self.counters = Counters()
        self._groups: dict[int, dict[bytes, Group]] = {}  # per partition, until batch_done
        self._outcome = Outcome()

    # -- input ---------------------------------------------------------------------------
    def message(self, partition: int, offset: int, key: bytes | None, value: bytes | None,
                headers: Headers = None) -> None:
        self.next_offset[partition] = offset + 1
        in_range = offset >= self.starts.get(partition, 0)
        self.counters.messages += in_range
        decoded = self.pipeline.decode(_Message(key, value, headers))
        if isinstance(decoded, Tick):
            self.counters.ticks += in_range
            return
        if isinstance(decoded, Rejected):
            if in_range:
                self._reject(partition, offset, key, value, decoded)
            return
        self.counters.events += len(decoded) if in_range else 0
        tid = decoded[0].trajectory_id
        if tid in self.closed:
            self.counters.late += in_range
            return
        item = self.open.get(tid)
        if item is None:
            item = self.open[tid] = Open(partition, offset)
        item.in_range |= in_range
        item.min_seq = min(item.min_seq, *(event.seq for event in decoded))
        item.events += decoded
        groups = self._groups.setdefault(partition, {})
        self.pipeline.add(groups, None, partition, tid.encode(), decoded, self._outcome)

    def batch_done(self, partition: int) -> None:
        """After a fetched batch of ``partition``: feed it, close what ended or went inactive."""
        out, self._outcome = self._outcome, Outcome()
        last = self.pipeline.apply(self._groups.pop(partition, {}), 0.0, out)
        self.pipeline.close_due(partition, last.get(partition), 0.0, out, tick=False)
        self.pipeline.end_batch()
        for update in out.updates:
            if self.on_signal is not None and update.signals:
                agent = update.session.state.meta.get("agent_id", "")  # what the record's agent_id says
                for signal, ts in zip(update.signals, update.times, strict=True):
                    self.on_signal(update.partition, agent, signal.type, ts)
            if update.trigger is not None:
                self._close(update.key.decode(), update.session)

    # -- output --------------------------------------------------------------------------
    def _close(self, tid: str, session: Session) -> None:
        item = self.open.pop(tid)
        self.closed[tid] = None
        if len(self.closed) > MAX_CLOSED_IDS:
            self.closed.popitem(last=False)
        if item.in_range:
            self._emit(item, session)

    def _emit(self, item: Open, session: Session) -> None:
        report: TrajectoryReport | None = session.report(pipeline_version=self.version)
        if item.min_seq > 0:
            report = self._partial(item, session)
        if report is None:  # a partial session, skipped
            return
        self.counters.records += 1
        self.counters.final += report.final
        self.output.emit(report, item.events)

    def _partial(self, item: Open, session: Session) -> TrajectoryReport | None:
        if not self.write_partial:
            self.counters.partial_skipped += 1
            return None
        self.counters.partial_written += 1
        session.close()  # apply the buffered events; the record still says final=false
        report = session.report(pipeline_version=self.version)
        reason = f"partial: events before seq {item.min_seq} were not replayed (widen --lookback)"
        return msgspec.structs.replace(report, final=False, reasons=[*report.reasons, reason])

    def _reject(self, partition: int, offset: int, key: bytes | None, value: bytes | None,
                rejected: Rejected) -> None:
        counts = self.counters.rejected
        counts[rejected.reason] = counts.get(rejected.reason, 0) + 1
        self.output.reject(partition, offset, key, value, rejected)

    def finish(self) -> None:
        """End of the range: open sessions with messages in range are emitted non-final."""
        for partition in list(self._groups):
            self.batch_done(partition)
        for tid, item in list(self.open.items()):
            session = self.store.load(tid.encode())
            if item.in_range and session is not None:
                self.counters.open_at_end += item.min_seq == 0
                self._emit(item, session)

    # -- checkpoints ---------------------------------------------------------------------
    def restart_offset(self, partition: int, default: int) -> int:
        firsts = [o.first_offset for o in self.open.values() if o.partition == partition]
        return min([self.next_offset.get(partition, default), *firsts])
