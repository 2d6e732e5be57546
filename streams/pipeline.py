"""The one session lifecycle: input messages -> per-trajectory sessions -> state, new signals, records.

Every path runs it, so the same input gives the same records (and ClickHouse rows) whatever the
path; the adapters only do I/O:
- ``streams/worker/agents.py``: the Faust worker (a changelogged table as the ``Store``, sends, metrics);
- ``streams/replay/__init__.py``: offset ranges of the input topic (whole sessions, records on close);
- ``from_files``: `signals analyze`, `load` and `demo --in-process` (each file trajectory ended
  exactly as `signals produce` ends it, see ``ended``).

Steps (``Pipeline.process``, or ``group`` + ``apply`` + ``close_due`` for adapters that read
message by message):
1. decode (``streams.codec.decode_message``): events, a ``Rejected`` (DLQ reason, counted in
   ``rejected_total``) or the worker's idle tick (not input);
2. group by trajectory key (the message key, else the trajectory id of a key-less message); the
   latest message of a group names the partition that owns the key;
3. feed each group's events to the trajectory's ``Session`` (state read once and written once per
   batch);
4. close: on an applied SessionEnd (``END``), when the partition's event-time watermark passes the
   session's last event ts + ``gap_s`` (``INACTIVITY``), or, on a tick, when the session has not
   been updated for ``idle_close_s`` wall-clock seconds (``IDLE``). The trigger decides only when
   ``final`` flips; record content depends only on the events;
5. retention: a closed session stays ``closed_retention_s`` (wall clock) so a redelivered or late
   event is applied to it (the final record is re-emitted with the updated content); after that its
   state is dropped and a straggler starts a new, non-final session under the same id.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from detectors.adapters import Trajectory
from detectors.model import Event, SessionEnd, Signal, TrajectoryReport
from detectors.session import DEFAULT_ENGINE, Engine, Session
from detectors.triage import load_config
from streams.codec import Decoded, Rejected, Tick, decode_message
from streams.tracker import Tracker

END, INACTIVITY, IDLE = "end", "inactivity", "idle"


class Store(Protocol):
    """Where sessions live between batches (the worker: a Faust table of encoded states). Every
    call names the message it is made for (``origin``): a partitioned store (Faust's RocksDB
    table) reads and writes a key in that message's partition."""

    def load(self, key: bytes, origin: Any) -> Session | None: ...
    def save(self, key: bytes, session: Session, origin: Any) -> None: ...
    def drop(self, key: bytes, origin: Any) -> None: ...
    def briefs(self) -> Iterable[tuple[bytes, bool, float | None]]: ...  # (key, closed, last_ts)


class MemoryStore:
    def __init__(self) -> None:
        self.sessions: dict[bytes, Session] = {}

    def load(self, key: bytes, origin: Any = None) -> Session | None:
        return self.sessions.get(key)

    def save(self, key: bytes, session: Session, origin: Any) -> None:
        self.sessions[key] = session

    def drop(self, key: bytes, origin: Any) -> None:
        self.sessions.pop(key, None)

    def briefs(self) -> Iterator[tuple[bytes, bool, float | None]]:
        for key, session in self.sessions.items():
            yield key, session.state.closed, session.state.features.last_ts


@dataclass(slots=True)
class Group:
    """The events of one trajectory in a batch, and the latest message (``origin``) carrying them."""

    origin: Any
    partition: int
    events: list[Event]


@dataclass(slots=True)
class Update:
    """One trajectory after a step: its session, the signals this step produced, the close trigger
    when this step closed it. Every update is published: its new signals at once, its record as
    the worker paces records (``RecordPacer`` in streams/worker/agents.py).
    ``times[i]`` is the event time of ``signals[i]``: the session's latest event time when the
    signal was produced (events apply in seq order, so it depends only on the events, not on the
    batching; ``streams/alerts.py`` windows signals by it)."""

    key: bytes
    partition: int
    session: Session
    signals: list[Signal]
    trigger: str | None
    origin: Any
    times: list[float | None] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # the events applied in this step

    def report(self, pipeline_version: str) -> TrajectoryReport:
        return self.session.report(pipeline_version=pipeline_version)


@dataclass(slots=True)
class Rejection:
    origin: Any
    message: Any
    rejected: Rejected


@dataclass
class Outcome:
    updates: list[Update] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    messages: int = 0  # input messages decoded or rejected (ticks are not input)
    events: int = 0
    ticks: int = 0
    expired: int = 0  # closed sessions dropped after their retention


def _itself(item: Any) -> Any:
    return item


class Pipeline:
    def __init__(self, store: Store, *, engine: Engine = DEFAULT_ENGINE, gap_s: float = 1800.0,
                 idle_close_s: float = 60.0, closed_retention_s: float = 3600.0,
                 max_event_bytes: int = 1 << 20,
                 partition_of: Callable[[bytes], int] = lambda key: 0) -> None:
        self.store, self.engine = store, engine
        self.idle_close_s, self.closed_retention_s = idle_close_s, closed_retention_s
        self.max_event_bytes, self.partition_of = max_event_bytes, partition_of
        self.tracker = Tracker(gap_s=gap_s)
        self.rejected_total: Counter[str] = Counter()
        self._batch: dict[bytes, Session] = {}  # sessions read or written in the current batch

    # -- the whole batch -----------------------------------------------------------------
    def process(self, batch: Iterable[Any], now: float, message_of: Callable[[Any], Any] = _itself) -> Outcome:
        """One batch of input messages (``message_of(item)`` has partition, key, value, headers)."""
        out = Outcome()
        if not self.tracker.rebuilt:
            self.rebuild(now)
        groups: dict[bytes, Group] = {}
        ticks: dict[int, Any] = {}
        last_input, max_bytes = self.tracker.last_input, self.max_event_bytes
        for item in batch:
            message = message_of(item)
            last_input[message.partition] = now
            decoded = decode_message(message.value, message.key, message.headers, max_bytes=max_bytes)
            if isinstance(decoded, Tick):
                ticks[message.partition] = item
                out.ticks += 1
                continue
            self.add(groups, item, message.partition, message.key, decoded, out, message)
        last = self.apply(groups, now, out)
        for partition, origin in {**last, **ticks}.items():
            self.close_due(partition, origin, now, out, tick=partition in ticks)
        self._batch.clear()
        return out

    # -- the steps -----------------------------------------------------------------------
    def decode(self, message: Any) -> Decoded | Tick:
        return decode_message(message.value, message.key, message.headers, max_bytes=self.max_event_bytes)

    def add(self, groups: dict[bytes, Group], origin: Any, partition: int, key: bytes | None,
            decoded: Decoded, out: Outcome, message: Any = None) -> None:
        """Count a decoded message and add its events to its trajectory's group (or reject it)."""
        out.messages += 1
        if isinstance(decoded, Rejected):
            self.rejected_total[decoded.reason] += 1
            out.rejections.append(Rejection(origin, message, decoded))
            return
        out.events += len(decoded)
        observe = self.tracker.observe
        for event in decoded:
            observe(partition, event.ts)
        key = key or decoded[0].trajectory_id.encode()
        group = groups.get(key)
        if group is None:
            groups[key] = Group(origin, partition, list(decoded))
        else:
            group.origin, group.partition = origin, partition
            group.events.extend(decoded)

    def apply(self, groups: dict[bytes, Group], now: float, out: Outcome) -> dict[int, Any]:
        """Feed every group; close the sessions whose end event was applied. Returns the latest
        origin per partition (``close_due`` runs on each of those partitions)."""
        last: dict[int, Any] = {}
        for key, group in groups.items():
            session = self.session(key, group.events[0].trajectory_id, group.origin)
            state = session.state
            feed, features = session.feed, state.features
            signals: list[Signal] = []
            times: list[float | None] = []
            for event in group.events:
                if new := feed(event):
                    signals += new
                    times += [features.last_ts] * len(new)
            trigger = None
            if state.ended and not state.closed:
                closing = session.close()
                signals += closing
                times += [features.last_ts] * len(closing)
                trigger = END
            self.save(key, group.partition, session, now, group.origin)
            out.updates.append(Update(key, group.partition, session, signals, trigger, group.origin, times,
                                      group.events))
            last[group.partition] = group.origin
        return last

    def close_due(self, partition: int, origin: Any, now: float, out: Outcome, *, tick: bool) -> None:
        """Close what is due on ``partition`` (inactivity; idleness on a tick); drop expired state."""
        due = [(key, INACTIVITY) for key in self.tracker.inactive(partition)]
        if tick:
            due += [(key, IDLE) for key in self.tracker.idle(partition, now, self.idle_close_s)]
        for key, trigger in due:
            session = self.session(key, key.decode("utf-8", "replace"), origin)
            if session.state.closed:
                continue
            signals = session.close()
            self.save(key, partition, session, now, origin)
            times = [session.state.features.last_ts] * len(signals)
            out.updates.append(Update(key, partition, session, signals, trigger, origin, times))
        for key in self.tracker.expired(partition, now, self.closed_retention_s):
            self.store.drop(key, origin)
            self._batch.pop(key, None)
            out.expired += 1

    # -- state -----------------------------------------------------------------------------
    def session(self, key: bytes, trajectory_id: str, origin: Any) -> Session:
        session = self._batch.get(key) or self.store.load(key, origin)
        if session is None:
            session = Session(trajectory_id, engine=self.engine)
        self._batch[key] = session
        return session

    def save(self, key: bytes, partition: int, session: Session, now: float, origin: Any) -> None:
        state = session.state
        self.store.save(key, session, origin)
        self.tracker.update(key, partition, state.features.last_ts, now, closed=state.closed)

    def forget(self, key: bytes, origin: Any = None) -> None:
        """Drop a session now (replay and files: closed sessions are not kept)."""
        self.store.drop(key, origin)
        self.tracker.entries.pop(key, None)  # its heap entries are skipped from now on
        self._batch.pop(key, None)

    def end_batch(self) -> None:
        self._batch.clear()

    # -- restart / rebalance / quiet partitions --------------------------------------------
    def rebuild(self, now: float) -> None:
        """Re-index the stored sessions (after a start or a rebalance)."""
        self.tracker.reset()
        for key, closed, last_ts in self.store.briefs():
            self.tracker.update(key, self.partition_of(key), last_ts, now, closed=closed)
        self.tracker.rebuilt = True

    def reset(self) -> None:
        """Partitions were revoked: the index is rebuilt before the next batch."""
        self.tracker.reset()
        self._batch.clear()

    def quiet(self, partitions: Iterable[int], now: float) -> list[int]:
        """Partitions to send an idle tick to: no input for ``idle_close_s`` and an open session
        there (or the index not rebuilt yet); each gets at most one tick per ``idle_close_s``."""
        out = []
        for partition in partitions:
            last = self.tracker.last_input.get(partition, now - 1e9)
            if now - last >= self.idle_close_s and (not self.tracker.rebuilt or self.tracker.has_open(partition)):
                self.tracker.last_input[partition] = now
                out.append(partition)
        return out


# ------------------------------------------------------------------------------------ files


def ended(trajectory: Trajectory) -> list[Event]:
    """A file trajectory as every path feeds it: its events under its id, ending with a SessionEnd
    (seq = number of events, ts = the last event's) unless the last event already is one."""
    events = [e if e.trajectory_id == trajectory.id else msgspec.structs.replace(e, trajectory_id=trajectory.id)
              for e in trajectory.events]
    if not events or not isinstance(events[-1], SessionEnd):
        last_ts = events[-1].ts if events else None
        events.append(SessionEnd(trajectory_id=trajectory.id, seq=len(events), ts=last_ts))
    return events


@dataclass(frozen=True)
class FileRecord:
    trajectory: Trajectory
    report: TrajectoryReport
    events: list[Event]  # what was fed: ``ended(trajectory)``
    signals: list[Signal]


def from_files(trajectories: Iterable[Trajectory], *, pipeline_version: str = "",
               engine: Engine = DEFAULT_ENGINE) -> Iterator[FileRecord]:
    """Each trajectory through the pipeline as one batch: its final record, as the worker gives it
    for the same trajectory sent by `signals produce`."""
    pipeline = Pipeline(MemoryStore(), engine=engine, closed_retention_s=0.0)  # closed: dropped at once
    for trajectory in trajectories:
        events, key, out = ended(trajectory), trajectory.id.encode(), Outcome()
        pipeline.apply({key: Group(None, 0, events)}, 0.0, out)
        update = out.updates[0]
        signals = update.signals
        if not update.session.state.closed:  # a gap before the end event: the worker closes it on
            signals += update.session.close()  # inactivity or idleness, with this same content
            pipeline.forget(key)
        pipeline.close_due(0, None, 0.0, out, tick=False)
        pipeline.end_batch()
        yield FileRecord(trajectory, update.report(pipeline_version), events, signals)


@functools.cache
def engine_for(triage_config: str) -> Engine:
    """The engine for a triage config path (Settings.triage_config); "" is the packaged default.

    Raises ValueError naming the file and the problem when it cannot be read."""
    return Engine(triage=load_config(triage_config)) if triage_config else DEFAULT_ENGINE
