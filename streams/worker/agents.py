"""The ingest agent: the Faust adapter of ``streams.pipeline`` (the session lifecycle lives there).

Processing (at-least-once; outputs are idempotent by trajectory id):
- messages arrive in batches (``stream.take_events``) and go through ``Pipeline.process``; a bad
  one goes to the DLQ with its ORIGINAL bytes and ``x-error-*`` headers, and is counted;
- session state lives in the ``sessions`` table (``TableStore``): read once and written back once
  per trajectory per batch (reassigned, so it is changelogged, to the partition of the message the
  events came in);
- every update is published: new signals to the signals topic, the trajectory record to the
  trajectories topic, once per trajectory per batch -- also when the batch held only duplicates,
  so a batch redelivered after a crash re-emits the same records;
- idle ticks (``streams.codec.TICK_HEADERS``) are sent by a wall-clock timer onto quiet
  partitions and travel through the stream, because Faust only allows table writes inside stream
  iteration; the pipeline closes idle sessions when one arrives.
The signals topic can lose signals of a batch in one narrow crash window (changelog written,
signals not yet sent); the trajectory record always carries every signal.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import msgspec
from aiokafka.partitioner import murmur2

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
    """The ``sessions`` table as the pipeline's store: encoded states, one write per key per batch.
    A write goes to the changelog partition of the message it came from (``origin``)."""

    def __init__(self, table: Any, engine: Engine) -> None:
        self.table, self.engine = table, engine

    def load(self, key: bytes, origin: Any) -> Session | None:
        faust_fixes.set_current_event(origin)  # RocksDB reads the key in this message's partition
        raw = self.table.get(key)
        if not raw:
            return None
        state = self.engine.decode_state(raw)
        return Session(state.trajectory_id, engine=self.engine, state=state)

    def save(self, key: bytes, session: Session, origin: Any) -> None:
        faust_fixes.set_current_event(origin)
        self.table[key] = self.engine.encode_state(session.state)  # reassign: changelogged

    def drop(self, key: bytes, origin: Any) -> None:
        if key in self.table:
            faust_fixes.set_current_event(origin)
            del self.table[key]

    def briefs(self) -> Any:
        for key, raw in self.table.items():
            brief = _brief_decoder.decode(raw)
            yield key, brief.closed, brief.features.last_ts


def _message(event: Any) -> Any:
    return event.message


class Ingest:
    """The Faust side of ``streams.pipeline.Pipeline``: batches in, sends and metrics out."""

    def __init__(self, app: Any, topics: Topics, table: Any, settings: Settings,
                 metrics: Metrics, engine: Engine = DEFAULT_ENGINE) -> None:
        self.app, self.topics, self.table, self.settings = app, topics, table, settings
        self.metrics, self.engine = metrics, engine
        self.pipeline = Pipeline(
            TableStore(table, engine), engine=engine, gap_s=settings.inactivity_gap_s,
            idle_close_s=settings.idle_close_s, closed_retention_s=settings.closed_retention_s,
            max_event_bytes=settings.max_event_bytes, partition_of=self._partition_of)
        self.tracker = self.pipeline.tracker
        self.version = settings.pipeline_version
        self.offsets: dict[int, int] = {}
        # called with each published update and its record (the OTLP exporter: streams/worker/otlp_http.py)
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
        key, state = update.key, update.session.state
        if update.trigger is not None:
            self.metrics.closed.labels(update.trigger).inc()
        report = update.report(self.version)
        send = self.app.producer.send
        for signal, ts in zip(update.signals, update.times, strict=True):
            value = encode_signal(state.trajectory_id, signal, pipeline_version=self.version,
                                  agent_id=report.agent_id, ts=ts)
            await send(self.topics.signals.get_topic_name(), key, value, None, None, None)
            self.metrics.signals.labels(signal.type).inc()
        await send(self.topics.trajectories.get_topic_name(), key, encode_report(report), None, None, None)
        self.metrics.records.labels(str(report.final).lower()).inc()
        for listen in self.listeners:
            listen(update, report)

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
        ingest.pipeline.reset()
        ingest.forget_partitions(revoked)

    return ingest
