"""The ingest agent: input events -> per-trajectory sessions -> signals and trajectory records.

Processing (at-least-once; outputs are idempotent by trajectory id):
- messages arrive in batches (``stream.take_events``); each is decoded by ``streams.codec``; a bad
  one goes to the DLQ with its ORIGINAL bytes and ``x-error-*`` headers, and is counted;
- events are grouped by trajectory; each trajectory's state is read from the ``sessions`` table
  once and written back once (reassigned, so it is changelogged) per batch;
- new signals go to the signals topic; the trajectory record goes to the trajectories topic once
  per trajectory per batch -- also when the batch held only duplicates, so a batch redelivered
  after a crash re-emits the same records;
- a session closes (``final: true``) when its SessionEnd event has been applied, when event time
  on its partition (the watermark = max event ts seen) passes its last event ts + the inactivity
  gap, or, on quiet partitions, when a control "tick" (header ``x-signals-control: tick``, sent by
  a wall-clock timer onto that partition) finds it idle for ``idle_close_s``. Ticks travel through
  the stream because Faust only allows table writes inside stream iteration. Record CONTENT
  depends only on events; the trigger decides only when ``final`` flips;
- closed sessions keep their state for ``closed_retention_s`` (wall clock): a redelivered or late
  event is applied (events are data: the final record is re-emitted with updated content) and
  duplicates re-emit the identical final record. After retention the state is deleted; an event
  arriving later starts a new (non-final) session under the same id.
The signals topic can lose signals of a batch in one narrow crash window (changelog written,
signals not yet sent); the trajectory record always carries every signal.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import msgspec
from aiokafka.partitioner import murmur2
from faust.streams import _current_event

from detectors.model import Event, Signal
from detectors.session import DEFAULT_ENGINE, Engine, Session
from streams.codec import Rejected, decode, dlq_headers, encode_report, encode_signal
from streams.metrics import Metrics
from streams.settings import Settings
from streams.topics import Topics, declare
from streams.tracker import Tracker

CONTROL_HEADER = "x-signals-control"
TICK = b"tick"


class _Brief(msgspec.Struct):  # the part of a stored SessionState the tracker needs
    class _Features(msgspec.Struct):
        last_ts: float | None = None

    closed: bool = False
    features: _Features = msgspec.field(default_factory=_Features)


_brief_decoder = msgspec.msgpack.Decoder(_Brief)


class Ingest:
    def __init__(self, app: Any, topics: Topics, table: Any, settings: Settings,
                 metrics: Metrics, engine: Engine = DEFAULT_ENGINE) -> None:
        self.app, self.topics, self.table, self.settings = app, topics, table, settings
        self.metrics, self.engine = metrics, engine
        self.tracker = Tracker(gap_s=settings.inactivity_gap_s)
        self.version = settings.pipeline_version
        self.offsets: dict[int, int] = {}

    # -- one batch -----------------------------------------------------------------------
    async def process(self, batch: list[Any]) -> None:
        now = time.time()
        if not self.tracker.rebuilt:
            self.rebuild(now)
        groups: dict[bytes, tuple[Any, list[Event]]] = {}
        ticks: dict[int, Any] = {}
        for event in batch:
            message = event.message
            self.tracker.last_input[message.partition] = now
            self.offsets[message.partition] = message.offset
            if _is_tick(message):
                ticks[message.partition] = event
                continue
            await self.accept(event, now, groups)
        for key, (event, events) in groups.items():
            await self.apply(key, event, events, now)
        for partition, event in {**self._last_by_partition(groups), **ticks}.items():
            await self.close_due(partition, event, now, tick=partition in ticks)

    async def accept(self, event: Any, now: float, groups: dict[bytes, tuple[Any, list[Event]]]) -> None:
        message = event.message
        self.metrics.messages.inc()
        if message.timestamp:
            self.metrics.latency.observe(max(0.0, now - message.timestamp))
        decoded = decode(message.value, message.key, max_bytes=self.settings.max_event_bytes)
        if isinstance(decoded, Rejected):
            await self.reject(message, decoded)
            return
        self.metrics.events.inc(len(decoded))
        for item in decoded:
            self.tracker.observe(message.partition, item.ts)
        key = message.key or decoded[0].trajectory_id.encode()
        _, events = groups.setdefault(key, (event, []))
        events.extend(decoded)
        groups[key] = (event, events)  # the latest message of the group: its partition owns the key

    async def apply(self, key: bytes, event: Any, events: list[Event], now: float) -> None:
        _current_event.set(weakref.ref(event))  # table writes go to this message's partition
        session = self.load(key, events[0].trajectory_id)
        state = session.state
        signals = [s for e in events for s in session.feed(e)]
        if state.ended and not state.closed:
            signals += session.close()
            self.metrics.closed.labels("end").inc()
        await self.store_and_publish(key, event.message.partition, session, signals, now)

    # -- closing -------------------------------------------------------------------------
    async def close_due(self, partition: int, event: Any, now: float, *, tick: bool) -> None:
        _current_event.set(weakref.ref(event))
        due = [(k, "inactivity") for k in self.tracker.inactive(partition)]
        if tick:
            due += [(k, "idle") for k in self.tracker.idle(partition, now, self.settings.idle_close_s)]
        for key, trigger in due:
            session = self.load(key, key.decode())
            if session.state.closed:
                continue
            signals = session.close()
            self.metrics.closed.labels(trigger).inc()
            await self.store_and_publish(key, partition, session, signals, now)
        for key in self.tracker.expired(partition, now, self.settings.closed_retention_s):
            if key in self.table:
                del self.table[key]

    # -- state and output ----------------------------------------------------------------
    def load(self, key: bytes, trajectory_id: str) -> Session:
        raw = self.table.get(key)
        state = self.engine.decode_state(raw) if raw else None
        return Session(trajectory_id, engine=self.engine, state=state)

    async def store_and_publish(self, key: bytes, partition: int, session: Session,
                                signals: list[Signal], now: float) -> None:
        state = session.state
        self.table[key] = self.engine.encode_state(state)  # reassign: changelogged
        self.tracker.update(key, partition, state.features.last_ts, now, closed=state.closed)
        report = session.report(pipeline_version=self.version)
        send = self.app.producer.send
        for signal in signals:
            value = encode_signal(state.trajectory_id, signal, pipeline_version=self.version,
                                  agent_id=report.agent_id)
            await send(self.topics.signals.get_topic_name(), key, value, None, None, None)
            self.metrics.signals.labels(signal.type).inc()
        await send(self.topics.trajectories.get_topic_name(), key, encode_report(report), None, None, None)
        self.metrics.records.labels(str(report.final).lower()).inc()

    async def reject(self, message: Any, rejected: Rejected) -> None:
        headers = [*(message.headers or ()),
                   *dlq_headers(rejected, message.topic, message.partition, message.offset)]
        await self.app.producer.send(self.topics.dlq.get_topic_name(), message.key, message.value,
                                     None, None, headers)
        self.metrics.rejected.labels(rejected.reason).inc()

    # -- restart / rebalance / quiet partitions ------------------------------------------
    def rebuild(self, now: float) -> None:
        """Re-index the sessions stored in the table (after start or a rebalance)."""
        self.tracker.reset()
        for key, raw in self.table.items():
            brief = _brief_decoder.decode(raw)
            self.tracker.update(key, self._partition_of(key), brief.features.last_ts, now, closed=brief.closed)
        self.tracker.rebuilt = True

    async def tick_quiet_partitions(self) -> None:
        now, name = time.time(), self.topics.events.get_topic_name()
        self.metrics.open_sessions.set(self.tracker.open_count())
        for tp in self.app.consumer.assignment():
            if tp.topic != name:
                continue
            self.report_lag(tp)
            quiet = now - self.tracker.last_input.get(tp.partition, now - 1e9) >= self.settings.idle_close_s
            if quiet and (not self.tracker.rebuilt or self.tracker.has_open(tp.partition)):
                self.tracker.last_input[tp.partition] = now
                await self.app.producer.send(name, None, b"", tp.partition, None, [(CONTROL_HEADER, TICK)])

    def report_lag(self, tp: Any) -> None:
        highwater = self.app.consumer.highwater(tp)
        if highwater is not None and tp.partition in self.offsets:
            self.metrics.lag.labels(str(tp.partition)).set(max(0, highwater - self.offsets[tp.partition] - 1))

    def _partition_of(self, key: bytes) -> int:
        return (murmur2(key) & 0x7FFFFFFF) % self.settings.partitions

    @staticmethod
    def _last_by_partition(groups: dict[bytes, tuple[Any, list[Event]]]) -> dict[int, Any]:
        return {event.message.partition: event for event, _ in groups.values()}


def _is_tick(message: Any) -> bool:
    return any(k == CONTROL_HEADER and v == TICK for k, v in message.headers or ())


def register_ingest(app: Any, topics: Topics, settings: Settings, metrics: Metrics | None = None) -> Ingest:
    table = app.Table("sessions", partitions=settings.partitions, key_type=bytes, value_type=bytes)
    ingest = Ingest(app, topics, table, settings, metrics or Metrics())
    app.ingest = ingest

    @app.agent(topics.events, name="ingest")
    async def ingest_agent(stream: Any) -> None:
        await declare(topics)
        async for batch in stream.take_events(settings.batch_max, within=settings.batch_within_s):
            await ingest.process(batch)

    @app.timer(interval=max(0.5, min(5.0, settings.idle_close_s / 2)))
    async def quiet_partitions() -> None:
        await ingest.tick_quiet_partitions()

    @app.on_partitions_revoked.connect
    async def on_revoked(app: Any, revoked: Any, **kwargs: Any) -> None:
        ingest.tracker.reset()

    return ingest
