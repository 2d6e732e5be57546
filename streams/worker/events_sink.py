"""The raw-events sink: the events topic -> ClickHouse's ``events`` table, by a plain consumer group.

Not a Faust agent. A second agent on the events topic cost the worker ~48 CPU µs per message
(Faust delivers each message to every agent's stream: `bench/bench_ceiling.py --records-only`), more
than the records sink and the ClickHouse inserts together; raw events need no table, no order and
no state. So this is one aiokafka consumer in its own group, ``<app_id>-raw-events``, beside the
Faust app (started and cancelled with it: ``register_events_sink``):

- it takes up to ``sink_batch_max`` messages, or what arrived within ``sink_batch_within_s``,
  writes their events (``WorkerClickHouse.write``: built on the ClickHouse thread, retried with
  backoff while ClickHouse is down) and only then commits their offsets: at-least-once; the
  events table is a ReplacingMergeTree on ``(trajectory_id, seq)``, so events written twice are
  one row for ``FINAL`` reads (export) and after merges;
- ClickHouse down: the batch is held and nothing past it is committed in this group, while the
  ingest agent (the worker's group) goes on producing signals and records;
- a rebalance needs nothing released: a commit for partitions this consumer has lost fails (one
  log line) and their next owner reads them from the last commit (some events written again);
- a stop drops a held batch uncommitted (the next owner reads it again);
- ``signals_sink_lag{partition}`` is, every ``LAG_S``, each assigned partition's end offset minus this
  group's committed offset (its log start before a first commit): what ClickHouse does not have yet.
  It grows while ClickHouse is down (the held batch is not committed) and is the number to alert on
  for the sink (docs/scaling.md); a partition this consumer loses is removed from it;
- a partition this group has never committed starts at the earliest offset. Not at the worker
  group's: that one is ingest's, which goes on while ClickHouse is down, so a first batch held
  through a stop would be skipped. A worker upgraded from the version whose Faust agent wrote raw
  events therefore writes the retained events topic once more at its first start (the same rows:
  no duplicate survives ``FINAL`` or a merge; it costs the time of that backfill).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from detectors.model import Event
from sinks.writer import Writer
from streams.codec import Rejected, decode
from streams.kafka import client_options, ensure_topics
from streams.settings import Settings
from streams.worker.metrics import Metrics

log = logging.getLogger("signals.sink")
GROUP_SUFFIX = "-raw-events"
RESTART_S = 2.0  # after an unexpected error of the consumer, before a new one starts
STOP_S = 3.0  # at most this long to leave the group at a stop (a broker that does not answer)
LAG_S = 5.0  # between two updates of signals_sink_lag


def group_of(settings: Settings) -> str:
    return settings.app_id + GROUP_SUFFIX


def batch_events(values: list[bytes], max_bytes: int) -> list[Event]:
    """Events of a batch of input messages (ticks and rejected messages carry none)."""
    out: list[Event] = []
    for value in values:
        decoded = decode(value, max_bytes=max_bytes)
        if not isinstance(decoded, Rejected):
            out.extend(decoded)
    return out


def next_offsets(messages: list[Any]) -> dict[TopicPartition, int]:
    """What to commit after ``messages`` are written: per partition, one past its last offset."""
    offsets: dict[TopicPartition, int] = {}
    for message in messages:
        tp = TopicPartition(message.topic, message.partition)
        offsets[tp] = max(offsets.get(tp, 0), message.offset + 1)
    return offsets


class RawEventsSink:
    """The consumer loop: take a batch, write it, commit it; held while ClickHouse is down."""

    def __init__(self, settings: Settings, clickhouse: Any, writer: Writer, lag: Any) -> None:
        self.settings, self.clickhouse, self.writer, self.lag = settings, clickhouse, writer, lag
        self.reported: set[int] = set()  # partitions with a signals_sink_lag series

    def consumer(self) -> AIOKafkaConsumer:
        settings = self.settings
        return AIOKafkaConsumer(
            group_id=group_of(settings), enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=int(settings.session_timeout_s * 1000),
            heartbeat_interval_ms=int(min(3.0, settings.session_timeout_s / 3) * 1000),
            **client_options(settings))

    async def run(self) -> None:
        """Until cancelled or stopping (the app stops); a consumer that fails is replaced. Never
        raises: a failed app task would crash the worker (and an error at a stop is the stop's:
        the ClickHouse thread is shut down then)."""
        while not self.clickhouse.stopping():
            try:
                await self.consume()
                return
            except Exception:
                if self.clickhouse.stopping():
                    return
                log.exception("the raw-events sink's consumer failed; a new one starts in %.0fs", RESTART_S)
                await asyncio.sleep(RESTART_S)

    async def consume(self) -> None:
        await ensure_topics(self.settings, client_options(self.settings))  # subscribing waits for the topic otherwise
        consumer = self.consumer()
        consumer.subscribe([self.settings.topic_events])
        await consumer.start()
        lag = asyncio.create_task(self.report_lag_every(consumer, LAG_S))  # also while the schema waits
        try:
            if not await self.clickhouse.ensure_schema():
                return  # stopped before ClickHouse answered
            while not self.clickhouse.stopping():
                messages = await self.take(consumer)
                if messages and not await self.write(messages):
                    return  # released at a stop: left uncommitted
                if messages:
                    await self.commit(consumer, messages)
        finally:
            lag.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), STOP_S)

    async def report_lag_every(self, consumer: AIOKafkaConsumer, seconds: float) -> None:
        while True:
            try:
                await self.report_lag(consumer)
            except KafkaError as error:  # a broker away: the next round tries again
                log.debug("raw-events sink: no lag this round (%s)", error)
            await asyncio.sleep(seconds)

    async def report_lag(self, consumer: AIOKafkaConsumer) -> None:
        """signals_sink_lag of each assigned partition: its end offset minus this group's commit."""
        assigned = sorted(consumer.assignment())
        done = {tp: await consumer.committed(tp) for tp in assigned}
        if never := [tp for tp, offset in done.items() if offset is None]:  # from the log start
            done.update(await consumer.beginning_offsets(never))
        ends = await consumer.end_offsets(assigned) if assigned else {}
        lags = {tp.partition: max(0, ends[tp] - done[tp]) for tp in assigned}
        self.reported = Metrics.set_by_partition(self.lag, lags, self.reported)

    async def take(self, consumer: AIOKafkaConsumer) -> list[Any]:
        """Up to ``sink_batch_max`` messages, or those that arrived within ``sink_batch_within_s``."""
        limit, clock = self.settings.sink_batch_max, asyncio.get_running_loop().time
        deadline, out = clock() + self.settings.sink_batch_within_s, list[Any]()
        while len(out) < limit and (left := deadline - clock()) > 0:
            fetched = await consumer.getmany(timeout_ms=max(1, int(left * 1000)), max_records=limit - len(out))
            for messages in fetched.values():
                out.extend(messages)
        return out

    async def write(self, messages: list[Any]) -> bool:
        events = batch_events([m.value for m in messages], self.settings.max_event_bytes)
        return bool(await self.clickhouse.write(self.writer, "events", [], events, releasable=False))

    async def commit(self, consumer: AIOKafkaConsumer, messages: list[Any]) -> None:
        try:
            await consumer.commit(next_offsets(messages))
        except KafkaError as error:  # lost partitions (rebalance): their next owner reads them again
            log.warning("raw-events sink: the commit of a written batch failed (%s: %s); its partitions' "
                        "next owner reads them again from the last commit", type(error).__name__, error)


def register_events_sink(app: Any, settings: Settings, clickhouse: Any) -> RawEventsSink:
    """Run the raw-events sink for the app's lifetime (an app task: cancelled when the app stops)."""
    sink = RawEventsSink(settings, clickhouse, clickhouse.writer(("events",), settings.sink_batch_max),
                         app.metrics.sink_lag)
    app.writers.append(sink.writer)

    @app.task
    async def raw_events_sink() -> None:
        await sink.run()

    return sink
