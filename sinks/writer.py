"""The one ClickHouse writer: rows from records and events, batched per table, inserted idempotently.

    writer = Writer(factory(dsn), database, backoff=Backoff(0.5, 15.0, retries=4))
    writer.write_reports(reports, events)   # builds rows; flushes the tables whose batch is due
    writer.flush(); writer.close()

Every path writes through it: the worker's sink agents, `signals load`, `demo` and replay. Rows are
sealed into batches of at most ``max_rows`` per table (20k by default: of 5k, 20k and 100k rows, 20k
went fastest against a plain insert of the same rows, bench/bench_clickhouse.py --batch); each
sealed batch gets a deterministic ``insert_deduplication_token`` (a hash of its content) that it
keeps across retries, so a retry after an insert whose reply was lost is deduplicated by ClickHouse.

There is one retry loop, ``retrying``: a failed insert drops the client (the next attempt
reconnects) and is retried after the backoff, doubling up to its maximum; after ``retries`` failed
retries in a row it raises ``ClickHouseUnavailable`` and keeps the batch for the next ``flush()``
(``healthy`` is False, ``pending_rows`` grows: callers pause consumption). The loop yields each
wait instead of sleeping, so the caller decides how to wait: ``flush()`` sleeps (load, demo,
replay), the worker waits on its event loop and may give the batch up (``discard()``) when a
rebalance or a stop begins (``streams/worker/sink_agent.py``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple, TypeVar

import msgspec

from detectors.model import Event, TrajectoryReport
from sinks import rows
from sinks.alerts import ALERT_COLUMNS
from sinks.client import ClientFactory, ClientHolder, insert_settings

T = TypeVar("T")
TABLES = {
    "trajectories": rows.TRAJECTORY_COLUMNS,
    "trajectory_versions": rows.TRAJECTORY_COLUMNS,
    "signals": rows.SIGNAL_COLUMNS,
    "events": rows.EVENT_COLUMNS,
    "alerts": ALERT_COLUMNS,  # written by the worker's alerts agent (sinks/alerts.py builds the rows)
}
_pack = msgspec.msgpack.Encoder()


class ClickHouseUnavailable(RuntimeError):
    """ClickHouse rejected or could not take a batch after all retries; the batch is kept."""

    def __init__(self, table: str, pending_rows: int, cause: BaseException) -> None:
        super().__init__(f"ClickHouse unavailable writing {table} ({pending_rows} rows pending): {cause}")
        self.table, self.pending_rows, self.cause = table, pending_rows, cause


@dataclass(frozen=True)
class Backoff:
    """How a failed ClickHouse call is retried: first wait ``initial`` seconds, doubling up to
    ``maximum``; give up after ``retries`` failed retries in a row (None: retry until it succeeds)."""

    initial: float = 0.5
    maximum: float = 15.0
    retries: int | None = 4


DEFAULT_BACKOFF = Backoff()


class Retry(NamedTuple):
    """What ``retrying`` yields: wait ``delay`` seconds, then resume it for the next attempt."""

    delay: float
    error: BaseException


def retrying(call: Callable[[], T], backoff: Backoff,
             failed: Callable[[BaseException], None] = lambda error: None) -> Generator[Retry, None, T]:
    """The one retry loop: ``call()`` until it succeeds; returns its value. After each failure
    ``failed(error)`` runs, then a ``Retry`` is yielded (the caller waits ``delay``, then resumes
    the generator). The error is raised once ``backoff.retries`` retries have failed."""
    delay, failures = backoff.initial, 0
    while True:
        try:
            return call()
        except Exception as error:
            failed(error)
            if backoff.retries is not None and failures >= backoff.retries:
                raise
            yield Retry(delay, error)
            failures, delay = failures + 1, min(delay * 2, backoff.maximum)


def step(attempts: Generator[Retry, None, T]) -> tuple[Retry | None, T | None]:
    """One attempt: ``(retry, None)`` when it failed and will be retried, ``(None, value)`` when done."""
    try:
        return next(attempts), None
    except StopIteration as done:
        return None, done.value


def wait_out(attempts: Generator[Retry, None, T], sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``attempts`` to the end, sleeping through each retry delay."""
    while True:
        retry, value = step(attempts)
        if retry is None:
            return value  # type: ignore[return-value]  # T: the generator returned
        sleep(retry.delay)


def batch_token(table: str, table_rows: Sequence[rows.Row]) -> str:
    """Deterministic content hash of a batch (same rows in the same order -> same token)."""
    digest = hashlib.blake2b(table.encode(), digest_size=16)
    digest.update(_pack.encode(table_rows))  # tuples encode as arrays, like lists
    return digest.hexdigest()


@dataclass
class _Table:
    """One table's pending rows: sealed batches (token, rows), oldest first, then the open rows."""

    name: str
    columns: list[str]
    sealed: list[tuple[str, list[rows.Row]]] = field(default_factory=list)
    open: list[rows.Row] = field(default_factory=list)
    opened_at: float | None = None

    @property
    def pending_rows(self) -> int:
        return len(self.open) + sum(len(batch) for _, batch in self.sealed)

    def seal(self, size: int, now: float) -> None:
        batch, self.open = self.open[:size], self.open[size:]
        self.sealed.append((batch_token(self.name, batch), batch))
        self.opened_at = now if self.open else None


class Writer:
    def __init__(self, make_client: ClientFactory, database: str, *, backoff: Backoff = DEFAULT_BACKOFF,
                 max_rows: int = 20_000, max_interval: float = 1.0, tables: Iterable[str] = tuple(TABLES),
                 redact_content: bool = False, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.holder, self.database, self.backoff = ClientHolder(make_client), database, backoff
        self.max_rows, self.max_interval, self.clock, self.sleep = max_rows, max_interval, clock, sleep
        self.redact_content = redact_content  # see sinks/rows.py
        wanted = set(tables)
        self.tables = {name: _Table(name, list(columns)) for name, columns in TABLES.items() if name in wanted}
        self.healthy = True
        self.rows_written = 0

    @property
    def pending_rows(self) -> int:
        return sum(table.pending_rows for table in self.tables.values())

    # ------------------------------------------------------------------ rows in
    def write_reports(self, reports: Sequence[TrajectoryReport], events: Iterable[Event] | None = None) -> None:
        """Rows of the records (and of their events), then flush the tables whose batch is due."""
        self.add_reports(reports, events)
        self.flush_due()

    def write_events(self, events: Iterable[Event]) -> None:
        """Raw events only (the worker's events path; records are written by ``write_reports``)."""
        self.add_events(events)
        self.flush_due()

    def add_reports(self, reports: Sequence[TrajectoryReport], events: Iterable[Event] | None = None) -> None:
        """Build and queue the rows, without writing (the worker flushes them itself)."""
        event_list = list(events or ())
        times = rows.timestamps(event_list)
        if self.redact_content:  # once per report, for its trajectory row and its signal rows
            reports = [rows.redacted(r) for r in reports]
        trajectory_rows = [rows.trajectory_row(r) for r in reports]
        self.add("trajectories", trajectory_rows)
        self.add("trajectory_versions", trajectory_rows)
        if "signals" in self.tables:
            self.add("signals", [s for r in reports for s in rows.signal_rows(r, times.get(r.id))])
        self.add_events(event_list)

    def add_events(self, events: Iterable[Event]) -> None:
        self.add("events", rows.event_rows(events, redact_content=self.redact_content))

    def add(self, name: str, table_rows: Sequence[rows.Row]) -> None:
        """Queue rows of one table (a table this writer does not write is ignored)."""
        table = self.tables.get(name)
        if table is None or not table_rows:
            return
        if table.opened_at is None:
            table.opened_at = self.clock()
        table.open.extend(table_rows)
        while len(table.open) >= self.max_rows:
            table.seal(self.max_rows, self.clock())

    # ------------------------------------------------------------------ rows out
    def due(self) -> bool:
        """Whether some table has a batch to write (full, or open for ``max_interval``)."""
        return any(self._due(table) for table in self.tables.values())

    def _due(self, table: _Table) -> bool:
        if table.sealed or len(table.open) >= self.max_rows:
            return True
        return bool(table.open) and table.opened_at is not None and self.clock() - table.opened_at >= self.max_interval

    def flush_due(self) -> int:
        return self._flush_now([t for t in self.tables.values() if self._due(t)])

    def flush(self) -> int:
        """Insert every pending row, retrying per ``backoff``; return the rows inserted.
        Raises ``ClickHouseUnavailable`` when the retries are spent (the rows are kept)."""
        return self._flush_now(list(self.tables.values()))

    def _flush_now(self, tables: list[_Table]) -> int:
        return wait_out(self.flushing(tables), self.sleep) if tables else 0

    def flushing(self, tables: list[_Table] | None = None) -> Generator[Retry, None, int]:
        """``flush`` as a generator of ``Retry`` waits (see ``retrying``), for callers that wait their own way."""
        written = 0
        for table in self.tables.values() if tables is None else tables:
            if table.open:
                table.seal(len(table.open), self.clock())
            while table.sealed:
                token, batch = table.sealed[0]
                try:
                    yield from retrying(partial(self._insert, table, token, batch), self.backoff, self._failed)
                except Exception as error:
                    raise ClickHouseUnavailable(table.name, self.pending_rows, error) from error
                table.sealed.pop(0)
                written += len(batch)
        self.rows_written += written
        self.healthy = True
        return written

    def _failed(self, error: BaseException) -> None:
        self.healthy = False
        self.holder.reset()  # the next attempt reconnects

    def _insert(self, table: _Table, token: str, batch: list[rows.Row]) -> None:
        client = self.holder.get()
        client.insert(table.name, batch, column_names=table.columns, database=self.database,
                      settings={**insert_settings(client), "insert_deduplication_token": token})

    def discard(self) -> int:
        """Drop every pending row of every table (the batch will be redelivered); return how many."""
        dropped = self.pending_rows
        for table in self.tables.values():
            table.sealed, table.open, table.opened_at = [], [], None
        return dropped

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.holder.close()


__all__ = ["DEFAULT_BACKOFF", "TABLES", "Backoff", "ClickHouseUnavailable", "Retry", "Writer", "batch_token", "retrying", "step",
           "wait_out"]
