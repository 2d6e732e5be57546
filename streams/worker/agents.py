"""The ingest agent: the Faust adapter of ``streams.pipeline`` (the session lifecycle lives there).

Processing (at-least-once; outputs are idempotent by trajectory id):
- messages arrive in batches (``stream.take_events``) and go through ``Pipeline.process``; a bad
  one goes to the DLQ with its ORIGINAL bytes and ``x-error-*`` headers, and is counted;
- session state lives in the ``sessions`` table (``TableStore``): read once per trajectory per batch,
  and written behind: the sessions saved since the last offset commit are written to the table
  (reassigned, so they are changelogged, to the partition of the message their events came in) once
  each, just before the next commit (``faust_fixes.before_commit``), so the changelog holds at least
  the state of every committed offset;
- every update publishes its new signals to the signals topic at once; the trajectory record goes
  to the trajectories topic at once when it is final (also when the batch held only duplicates, so
  a batch redelivered after a crash re-emits the same final records) or is the trajectory's first;
  an open trajectory's later interim records go out at most every ``record_interval_s`` (the
  latest one held back is sent by a timer), so one event per message does not mean one record
  per event for the sink to write;
- idle ticks (``streams.codec.TICK_HEADERS``) are sent by a wall-clock timer onto quiet
  partitions and travel through the stream, because Faust only allows table writes inside stream
  iteration; the pipeline closes idle sessions when one arrives.
The signals topic can lose signals of a batch in one narrow crash window (changelog written,
signals not yet sent); the trajectory record always carries every signal.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import msgspec
from aiokafka.partitioner import murmur2

from detectors.model import TrajectoryReport
from detectors.session import DEFAULT_ENGINE, Engine, Session
from streams.codec import TICK_HEADERS, dlq_headers, encode_report, encode_signal, is_tick
from streams.pipeline import Outcome, Pipeline, Rejection, Update, engine_for
from streams.settings import Settings
from streams.worker import faust_fixes
from streams.worker.metrics import Metrics
from streams.worker.topics import Topics, declare


class _Brief(msgspec.Struct):  # the part of a stored SessionState the tracker needs
    class _Features(msgspec.Struct):
        last_ts: float | None = None

    closed: bool = False
    features: _Features = msgspec.field(default_factory=_Features)


_brief_decoder = msgspec.msgpack.Decoder(_Brief)


class TableStore:
    """The ``sessions`` table as the pipeline's store: encoded states, one table write per key per
    offset commit. ``save`` keeps the encoded state in ``written`` (read back by ``load``); ``flush``
    (called before every commit) writes each one to the table, to the changelog partition of the
    message it came from (``origin``). A crash loses only what was not committed: its messages are
    read again and applied to the state of the last commit (or later: events already applied are
    duplicates by seq). Revoked partitions (``forget_cache``) drop what was not written: the commit
    that precedes a revocation (``wait_empty``) has written it.

    The sessions last written are also kept decoded (at most ``cache_size``, least recently used
    first out): a load whose stored bytes equal the bytes written for a kept session returns that
    session instead of decoding them again (equal bytes: the same state). A load takes the session
    out of the cache and only its save puts it back, so a batch that fails half way leaves nothing
    half-applied behind: the next load decodes what the table holds."""

    def __init__(self, table: Any, engine: Engine, *, cache_size: int) -> None:
        self.table, self.engine, self.cache_size = table, engine, cache_size
        self.cache: OrderedDict[bytes, tuple[bytes, Session]] = OrderedDict()
        self.written: dict[bytes, tuple[bytes, Any]] = {}  # saved since the last flush: key -> (state, origin)

    def load(self, key: bytes, origin: Any) -> Session | None:
        if (written := self.written.get(key)) is not None:
            raw = written[0]
        else:
            faust_fixes.set_current_event(origin)  # RocksDB reads the key in this message's partition
            raw = self.table.get(key)
        kept = self.cache.pop(key, None)
        if not raw:
            return None
        if kept is not None and kept[0] == raw:  # (RocksDB returns equal bytes, not the same object)
            return kept[1]
        state = self.engine.decode_state(raw)
        return Session(state.trajectory_id, engine=self.engine, state=state)

    def save(self, key: bytes, session: Session, origin: Any) -> None:
        raw = self.engine.encode_state(session.state)
        self.written[key] = (raw, origin)
        self.cache[key] = (raw, session)
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)

    def drop(self, key: bytes, origin: Any) -> None:
        self.cache.pop(key, None)
        self.written.pop(key, None)
        faust_fixes.set_current_event(origin)  # before the lookup too: RocksDB looks in that partition
        if key in self.table:
            del self.table[key]

    def flush(self) -> int:
        """Write every state saved since the last flush to the table (one changelog message each)."""
        written, self.written = self.written, {}
        for key, (raw, origin) in written.items():
            faust_fixes.set_current_event(origin)
            self.table[key] = raw  # reassign: changelogged
        return len(written)

    def forget_cache(self) -> None:
        """Partitions were revoked: keep no decoded or unwritten session of a key this worker may not own."""
        self.cache.clear()
        self.written.clear()

    def briefs(self) -> Any:
        written = self.written
        for key, raw in self.table.items():
            if key not in written:
                yield self._brief(key, raw)
        for key, (raw, _) in list(written.items()):
            yield self._brief(key, raw)

    @staticmethod
    def _brief(key: bytes, raw: bytes) -> tuple[bytes, bool, float | None]:
        brief = _brief_decoder.decode(raw)
        return key, brief.closed, brief.features.last_ts


class RecordPacer:
    """When a trajectory's record is published: a final one, or an open trajectory's first, at
    once; a later interim one only ``interval_s`` (monotonic) after the last one sent, else its
    session is held (the latest per trajectory) for ``held_due``: the record is built only when it
    is sent. Keys of final records are forgotten, so what is kept is bounded by the open
    trajectories."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.sent_at: dict[bytes, float] = {}  # open trajectories: when their last record went out
        self.held: dict[bytes, Session] = {}  # the latest session whose interim record is not sent yet

    def due(self, key: bytes, session: Session, now: float) -> bool:
        """Send the record of ``session`` now? (If not, the session is held.)"""
        if session.state.closed:
            self.sent_at.pop(key, None)
            self.held.pop(key, None)
            return True
        last = self.sent_at.get(key)
        if last is None or now - last >= self.interval_s:
            self.sent_at[key] = now
            self.held.pop(key, None)
            return True
        self.held[key] = session
        return False

    def held_due(self, now: float) -> list[tuple[bytes, Session]]:
        """The held sessions whose interval has passed (each record counts as sent now)."""
        due = [(key, session) for key, session in self.held.items() if now - self.sent_at[key] >= self.interval_s]
        for key, _ in due:
            del self.held[key]
            self.sent_at[key] = now
        return due

    def forget(self) -> None:
        """Partitions were revoked: their next owner publishes from now on."""
        self.sent_at.clear()
        self.held.clear()


def _message(event: Any) -> Any:
    return event.message


class Ingest:
    """The Faust side of ``streams.pipeline.Pipeline``: batches in, sends and metrics out."""

    def __init__(self, app: Any, topics: Topics, table: Any, settings: Settings,
                 metrics: Metrics, engine: Engine = DEFAULT_ENGINE) -> None:
        self.app, self.topics, self.table, self.settings = app, topics, table, settings
        self.metrics, self.engine = metrics, engine
        self.store = TableStore(table, engine, cache_size=settings.session_cache)
        self.pipeline = Pipeline(
            self.store, engine=engine, gap_s=settings.inactivity_gap_s,
            idle_close_s=settings.idle_close_s, closed_retention_s=settings.closed_retention_s,
            max_event_bytes=settings.max_event_bytes, partition_of=self._partition_of)
        self.tracker = self.pipeline.tracker
        self.version = settings.pipeline_version
        self.offsets: dict[int, int] = {}
        self.records = RecordPacer(settings.record_interval_s)
        # called with each update and its record, sent or held (the OTLP exporter: streams/worker/otlp_http.py)
        self.listeners: list[Callable[[Update, Any], None]] = []

    # -- one batch -----------------------------------------------------------------------
    async def process(self, batch: list[Any]) -> None:
        now = time.time()
        latency = self.metrics.latency
        for event in batch:
            message = event.message
            self.offsets[message.partition] = message.offset
            if message.timestamp and not (message.headers and is_tick(message.headers)):
                latency.observe(max(0.0, now - message.timestamp))
        outcome = self.pipeline.process(batch, now, message_of=_message)
        await self.publish(outcome)

    async def publish(self, outcome: Outcome) -> None:
        metrics = self.metrics
        metrics.messages.inc(outcome.messages)
        metrics.events.inc(outcome.events)
        for rejection in outcome.rejections:
            await self.reject(rejection)
        for update in outcome.updates:
            await self.send_update(update)

    async def send_update(self, update: Update) -> None:
        key, session = update.key, update.session
        state = session.state
        if update.trigger is not None:
            self.metrics.closed.labels(update.trigger).inc()
        send, agent_id = self.app.producer.send, state.meta.get("agent_id", "")
        for signal, ts in zip(update.signals, update.times, strict=True):
            value = encode_signal(state.trajectory_id, signal, pipeline_version=self.version,
                                  agent_id=agent_id, ts=ts)
            await send(self.topics.signals.get_topic_name(), key, value, None, None, None)
            self.metrics.signals.labels(signal.type).inc()
        due = self.records.due(key, session, time.monotonic())
        if not (due or self.listeners):
            return  # the record is built only when it is sent or listened to
        report = update.report(self.version)
        if due:
            await self.send_record(key, report)
        for listen in self.listeners:
            listen(update, report)

    async def send_record(self, key: bytes, report: TrajectoryReport) -> None:
        await self.app.producer.send(self.topics.trajectories.get_topic_name(), key, encode_report(report),
                                     None, None, None)
        self.metrics.records.labels(str(report.final).lower()).inc()

    async def send_held_records(self) -> None:
        """The interim records held back whose interval has passed."""
        for key, session in self.records.held_due(time.monotonic()):
            await self.send_record(key, session.report(pipeline_version=self.version))

    def revoked(self, partitions: Any) -> None:
        """Partitions were revoked: re-index before the next batch; hold, cache and report nothing of them."""
        self.pipeline.reset()
        self.records.forget()
        self.store.forget_cache()
        self.forget_partitions(partitions)

    async def reject(self, rejection: Rejection) -> None:
        message, rejected = rejection.message, rejection.rejected
        headers = [*(message.headers or ()),
                   *dlq_headers(rejected, message.topic, message.partition, message.offset)]
        await self.app.producer.send(self.topics.dlq.get_topic_name(), message.key, message.value,
                                     None, None, headers)
        self.metrics.rejected.labels(rejected.reason).inc()

    # -- quiet partitions ------------------------------------------------------------------
    async def tick_quiet_partitions(self) -> None:
        now, name = time.time(), self.topics.events.get_topic_name()
        self.metrics.open_sessions.set(self.tracker.open_count())
        assigned = [tp for tp in self.app.consumer.assignment() if tp.topic == name]
        for tp in assigned:
            self.report_lag(tp)
        for partition in self.pipeline.quiet([tp.partition for tp in assigned], now):
            await self.app.producer.send(name, None, b"", partition, None, TICK_HEADERS)

    def report_lag(self, tp: Any) -> None:
        highwater = self.app.consumer.highwater(tp)
        if highwater is not None and tp.partition in self.offsets:
            self.metrics.lag.labels(str(tp.partition)).set(max(0, highwater - self.offsets[tp.partition] - 1))

    def forget_partitions(self, revoked: Any) -> None:
        """Revoked events partitions: their lag is the next owner's to report. A gauge left here
        would stay at its last value in this process and fire a lag alert on a partition that another
        process (``--processes``, another host) consumes."""
        name = self.topics.events.get_topic_name()
        for tp in revoked:
            if tp.topic == name:
                self.offsets.pop(tp.partition, None)
                with contextlib.suppress(KeyError):  # never reported (no highwater yet)
                    self.metrics.lag.remove(str(tp.partition))

    def _partition_of(self, key: bytes) -> int:
        return int(murmur2(key) & 0x7FFFFFFF) % self.settings.partitions


def register_ingest(app: Any, topics: Topics, settings: Settings, metrics: Metrics | None = None) -> Ingest:
    table = app.Table("sessions", partitions=settings.partitions, key_type=bytes, value_type=bytes)
    ingest = Ingest(app, topics, table, settings, metrics or Metrics(), engine_for(settings.triage_config))
    faust_fixes.before_commit(app, ingest.store.flush)

    @app.agent(topics.events, name="ingest")
    async def ingest_agent(stream: Any) -> None:
        await declare(topics)
        async for batch in stream.take_events(settings.batch_max, within=settings.batch_within_s):
            await ingest.process(batch)

    @app.timer(interval=max(0.5, min(5.0, settings.idle_close_s / 2)))
    async def quiet_partitions() -> None:
        await ingest.tick_quiet_partitions()

    if settings.record_interval_s > 0:
        @app.timer(interval=max(0.1, settings.record_interval_s / 2))
        async def held_records() -> None:
            await ingest.send_held_records()

    @app.on_partitions_revoked.connect
    async def on_revoked(app: Any, revoked: Any, **kwargs: Any) -> None:
        ingest.revoked(revoked)

    return ingest
