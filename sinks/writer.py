"""The synchronous sink used by `signals load` and the streaming agent.

    sink = Sink(factory(dsn), database)
    sink.write_reports(reports, events)   # flushes tables whose batch is due
    sink.flush(); sink.close()

Raises ``sinks.clickhouse.SinkUnavailable`` when ClickHouse is down (nothing is dropped; call
``flush()`` again later). ``healthy`` and ``pending_rows`` drive backpressure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from detectors.model import Event, TrajectoryReport
from sinks import rows
from sinks.clickhouse import BatchWriter
from sinks.client import ClientFactory, ClientHolder

TABLES = {
    "trajectories": rows.TRAJECTORY_COLUMNS,
    "trajectory_versions": rows.TRAJECTORY_COLUMNS,
    "signals": rows.SIGNAL_COLUMNS,
    "events": rows.EVENT_COLUMNS,
}


class Sink:
    def __init__(self, make_client: ClientFactory, database: str, *, max_rows: int = 5000,
                 max_interval: float = 1.0, retries: int = 4, tables: Iterable[str] = tuple(TABLES),
                 redact_content: bool = False) -> None:
        self.redact_content = redact_content  # see sinks/rows.py
        self.holder = ClientHolder(make_client)
        self.writers = {
            table: BatchWriter(self.holder, database, table, columns, max_rows=max_rows,
                               max_interval=max_interval, retries=retries)
            for table, columns in TABLES.items() if table in set(tables)
        }

    @property
    def healthy(self) -> bool:
        return all(w.healthy for w in self.writers.values())

    @property
    def pending_rows(self) -> int:
        return sum(w.pending_rows for w in self.writers.values())

    def write_reports(self, reports: Sequence[TrajectoryReport], events: Iterable[Event] | None = None) -> None:
        event_list = list(events or ())
        times = rows.timestamps(event_list)
        if self.redact_content:  # once per report, for its trajectory row and its signal rows
            reports = [rows.redacted(r) for r in reports]
        trajectory_rows = [rows.trajectory_row(r) for r in reports]
        self._add("trajectories", trajectory_rows)
        self._add("trajectory_versions", trajectory_rows)
        if "signals" in self.writers:
            self._add("signals", [s for r in reports for s in rows.signal_rows(r, times.get(r.id))])
        self._add("events", rows.event_rows(event_list, redact_content=self.redact_content))
        self.flush_due()

    def write_events(self, events: Iterable[Event]) -> None:
        """Raw events only (the worker's events path; records are written by ``write_reports``)."""
        self._add("events", rows.event_rows(events, redact_content=self.redact_content))
        self.flush_due()

    def _add(self, table: str, table_rows: Sequence[rows.Row]) -> None:
        writer = self.writers.get(table)
        if writer is not None and table_rows:
            writer.add(table_rows)

    def flush_due(self) -> int:
        return sum(w.flush() for w in self.writers.values() if w.due())

    def flush(self) -> int:
        return sum(w.flush() for w in self.writers.values())

    def discard(self) -> int:
        """Drop every pending row of every table (see ``BatchWriter.discard``)."""
        return sum(w.discard() for w in self.writers.values())

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.holder.close()
