"""ClickHouse sink: trajectory records (+ their signals) and raw events -> ClickHouse.

An extension for ``build_app``, each part writing through its own ``sinks.writer.Writer``:
- the agent ``clickhouse-records`` reads the trajectories topic in batches (``stream.take(sink_batch_max,
  within=sink_batch_within_s)``), keeps the newest record per trajectory of the batch and writes
  the trajectories, trajectory_versions and signals rows (signal times fall back to the record's
  last event time: records do not carry events);
- the raw events (``SIGNALS_SINK_EVENTS``) are written by a plain consumer group of their own, not
  a Faust agent: ``streams.worker.events_sink`` (why, and its guarantees, there);
- ``signals_records_sink_lag{partition}`` is, every ``LAG_S``, each assigned trajectories partition's
  end offset minus the worker group's committed offset (``RecordsLag``): the records ClickHouse does
  not have yet (a batch is committed only once written, below). It grows while ClickHouse is down.

Every batch of the records agent is fully written before the agent takes the next one, and Faust acks (then commits)
a batch's messages only when the agent asks for the next batch. So when ClickHouse is down
the agent keeps the batch and retries it: the attempts of the writer's one retry loop run on the
ClickHouse thread, the waits between them (backoff from ``Settings``, with no limit on the number
of retries) on ``asyncio.sleep`` (the event loop, the ingest agent and the web view keep
running), and consumption of that topic stops at the unwritten batch; it drains once ClickHouse is back. A worker told to stop meanwhile drops
the unwritten batch (acks during a stop are never committed, streams/worker/faust_fixes.py) and stops
cleanly; the next owner reads the batch again. When a rebalance starts meanwhile (Faust waits for every
in-flight message to be acked before it reassigns partitions), the agent releases the batch: it
drops the rows and lets the messages be acked; acks that arrive while a rebalance suspends the
flow are never committed (streams/worker/faust_fixes.py), so whoever owns the partitions next reads the
batch again from the committed offset. Writes are idempotent (deterministic row versions and
insert dedup tokens), so a batch redelivered after a crash or a rebalance is harmless.

All ClickHouse calls run on ONE thread (``WorkerClickHouse.run``): the clients are synchronous, and the
embedded chDB engine is owned by this process for the worker's lifetime.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

import msgspec

from detectors.model import Event, TrajectoryReport
from sinks.client import ClientHolder, factory
from sinks.config import resolve_dsn
from sinks.migrate import migrate
from sinks.writer import DEFAULT_BACKOFF, Backoff, Retry, Writer, retrying, step
from streams.settings import Settings
from streams.worker import faust_fixes
from streams.worker.events_sink import LAG_S, register_events_sink
from streams.worker.metrics import Metrics
from streams.worker.topics import Topics

log = logging.getLogger("signals.sink")
T = TypeVar("T")
RECORD_TABLES = ("trajectories", "trajectory_versions", "signals")
NEVER = float("inf")
RELEASE_POLL_S = 0.5  # how often a held batch checks for a rebalance while it waits to retry
_record_decoder = msgspec.json.Decoder(TrajectoryReport)


class BatchReleased(Exception):
    """A rebalance or a stop started while ClickHouse was unavailable: give the unwritten batch up, uncommitted."""


class WorkerClickHouse:
    """The worker's ClickHouse: DSN, database, a reader client, the one thread for all calls, and
    the wait between the attempts of ``sinks.writer.retrying`` (on the event loop, releasable)."""

    def __init__(self, dsn: str, database: str, *, backoff: Backoff = DEFAULT_BACKOFF,
                 redact_content: bool = False) -> None:
        self.dsn, self.database, self.redact_content = resolve_dsn(dsn), database, redact_content
        self.make_client = factory(self.dsn)
        self.reader = ClientHolder(self.make_client)
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="clickhouse")
        self.backoff = replace(backoff, retries=None)  # the worker holds a batch until it is written
        self.schema_ready = False
        self.stalled_since: float | None = None
        self.stopping: Callable[[], bool] = lambda: False
        self.rebalancing: Callable[[], bool] = lambda: False

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    def writer(self, tables: tuple[str, ...], batch_max: int) -> Writer:
        """A writer for one agent's tables, inserting at most max(1000, 4 x batch_max) rows at a time.
        Batches are cut by the agent (take + within), so the writer never flushes on its own."""
        max_rows = max(1000, batch_max * 4)
        return Writer(self.make_client, self.database, backoff=self.backoff, max_rows=max_rows,
                      max_interval=NEVER, tables=tables, redact_content=self.redact_content)

    async def write(self, writer: Writer, what: str, reports: list[TrajectoryReport], events: list[Event],
                    *, releasable: bool = True) -> bool:
        """One batch: build the rows, then hold it until ClickHouse has them all (True), or release
        it (False: at a stop, and at a rebalance of the worker's group if ``releasable``)."""
        if not reports and not events:
            return True
        await self.run(writer.add_reports, reports, events)  # builds rows only (no I/O)
        try:
            await self.until_done(what, writer.flushing(), releasable=releasable)
        except BatchReleased:
            dropped = await self.run(writer.discard)
            log.warning("%s while ClickHouse is unavailable (%s): released the unwritten batch "
                        "(%d rows) uncommitted; it is read again from the committed offset",
                        "stop" if self.stopping() else "rebalance", what, dropped)
            return False
        return True

    async def until_done(self, what: str, attempts: Generator[Retry, None, Any], *, releasable: bool = False) -> None:
        """Drive ``attempts`` (each on the ClickHouse thread) to the end, waiting out each retry here.
        ``releasable``: raise ``BatchReleased`` instead of waiting on when a rebalance starts."""
        while (retry := (await self.run(step, attempts))[0]) is not None:
            self.stalled(what, retry.error, retry.delay)
            try:
                if self.stopping():
                    raise BatchReleased(f"stopping while ClickHouse is unavailable ({what})")
                await self.wait(retry.delay, releasable)
            except BaseException:
                attempts.close()  # suspended at its yield: the attempts end here
                raise
        self.recovered(what)

    async def wait(self, delay: float, releasable: bool) -> None:
        """Sleep ``delay``; a releasable wait checks for a rebalance every ``RELEASE_POLL_S``."""
        clock = asyncio.get_running_loop().time
        deadline = clock() + delay
        while True:
            if releasable and self.rebalancing():
                raise BatchReleased
            if (left := deadline - clock()) <= 0:
                return
            await asyncio.sleep(min(left, RELEASE_POLL_S))

    def stalled(self, what: str, error: BaseException, delay: float) -> None:
        if self.stalled_since is None:
            self.stalled_since = asyncio.get_running_loop().time()
        log.warning("ClickHouse unavailable (%s), holding consumption, retry in %.1fs: %s", what, delay, error)

    def recovered(self, what: str) -> None:
        if self.stalled_since is not None:
            log.warning("ClickHouse is back (%s), draining", what)
            self.stalled_since = None

    async def ensure_schema(self) -> bool:
        """Apply the schema (retrying while ClickHouse is down); False if the worker stopped first."""
        if not self.schema_ready:
            try:
                await self.until_done("migrate", retrying(lambda: migrate(self.reader.get(), self.database),
                                                          self.backoff))
            except BatchReleased:
                return False
            self.schema_ready = True
        return True

    def close(self) -> None:
        self.reader.close()
        self.executor.shutdown(wait=False)


def newest_records(values: list[bytes]) -> list[TrajectoryReport]:
    """Decode a batch of trajectory records; the last one of each trajectory wins."""
    newest: dict[str, TrajectoryReport] = {}
    for value in values:
        try:
            report = _record_decoder.decode(value)
        except msgspec.DecodeError as error:  # ValidationError is a DecodeError
            log.error("skipping an undecodable trajectory record: %s", error)
            continue
        newest[report.id] = report
    return list(newest.values())


class RecordsLag:
    """``signals_records_sink_lag``: per assigned partition of the trajectories topic, its end offset
    (asked of the broker: a held batch pauses fetching, so the last fetched high-water would go stale)
    minus the worker group's committed offset (the records agent's batches are committed only
    once written). Partitions without a committed offset yet are left out."""

    def __init__(self, app: Any, topic: str, gauge: Any) -> None:
        self.app, self.topic, self.gauge = app, topic, gauge
        self.reported: set[int] = set()

    async def report(self) -> None:
        consumer = self.app.consumer
        committed = faust_fixes.committed_offsets(consumer)
        assigned = [tp for tp in consumer.assignment() if tp.topic == self.topic and tp in committed]
        ends = await consumer.highwaters(*assigned) if assigned else {}
        lags = {tp.partition: max(0, int(ends[tp]) - committed[tp]) for tp in assigned if ends.get(tp) is not None}
        self.reported = Metrics.set_by_partition(self.gauge, lags, self.reported)


class BlockedClient:
    """TEST HOOK (``SIGNALS_FAULT_SINK_BLOCK_FILE``): inserts fail while ``path`` exists."""

    def __init__(self, client: Any, path: str) -> None:
        self._client, self._path = client, path

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        if os.path.exists(self._path):
            raise ConnectionError(f"fault injected: {self._path} exists")
        return self._client.insert(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def register_sink(app: Any, topics: Topics, settings: Settings) -> WorkerClickHouse | None:
    """The extension: ClickHouse schema at startup, then the records agent and the raw-events sink."""
    if not settings.sink:
        return None
    clickhouse = WorkerClickHouse(settings.clickhouse_dsn, settings.clickhouse_database,
                                  redact_content=settings.redact_content, backoff=settings.sink_backoff())
    if block := settings.fault_sink_block_file:
        make = clickhouse.make_client
        clickhouse.make_client = lambda: BlockedClient(make(), block)
    app.clickhouse = clickhouse
    clickhouse.stopping = lambda: bool(app.should_stop)
    clickhouse.rebalancing = lambda: not app.flow_control.is_active()  # acks are not committed then
    records = clickhouse.writer(RECORD_TABLES, settings.sink_batch_max)
    app.writers = [records]

    @app.agent(topics.trajectories, name="clickhouse-records")
    async def records_agent(stream: Any) -> None:
        if not await clickhouse.ensure_schema():
            return
        async for values in stream.take(settings.sink_batch_max, within=settings.sink_batch_within_s):
            await clickhouse.write(records, "records", newest_records(values), [])

    lag = RecordsLag(app, topics.trajectories.get_topic_name(), app.metrics.records_sink_lag)

    @app.timer(interval=LAG_S)
    async def records_sink_lag() -> None:
        if clickhouse.stopping() or clickhouse.rebalancing():  # no call into the consumer's thread then
            return
        try:
            await lag.report()
        except Exception as error:  # a broker away, a rebalance, a stop: the next round tries again
            log.debug("records sink: no lag this round (%s)", error)

    if settings.sink_events:
        register_events_sink(app, settings, clickhouse)

    @app.on_before_shutdown.connect
    async def close_clickhouse(app: Any, **kwargs: Any) -> None:
        clickhouse.close()

    return clickhouse

