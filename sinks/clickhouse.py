"""Batching, idempotent, backpressure-aware writes into ClickHouse.

``BatchWriter`` (one per table) seals rows into batches of at most ``max_rows``; each sealed batch
gets a deterministic ``insert_deduplication_token`` (hash of its content) that it keeps across
retries, so a retry after an insert whose reply was lost is deduplicated by ClickHouse. On failure
it retries with bounded exponential backoff, then raises ``SinkUnavailable`` and keeps the batch
for the next ``flush()``: callers pause consumption (``healthy`` is False, ``pending_rows`` grows).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from sinks.client import ClientHolder

Row = Sequence[Any]
_pack = msgspec.msgpack.Encoder()


class SinkUnavailable(RuntimeError):
    """ClickHouse rejected or could not take a batch after all retries; the batch is kept."""

    def __init__(self, table: str, pending_rows: int, cause: BaseException) -> None:
        super().__init__(f"ClickHouse unavailable writing {table} ({pending_rows} rows pending): {cause}")
        self.table, self.pending_rows, self.cause = table, pending_rows, cause


def batch_token(table: str, rows: Sequence[Row]) -> str:
    """Deterministic content hash of a batch (same rows in the same order -> same token)."""
    digest = hashlib.blake2b(table.encode(), digest_size=16)
    digest.update(_pack.encode([list(row) for row in rows]))
    return digest.hexdigest()


class BatchWriter:
    def __init__(self, holder: ClientHolder, database: str, table: str, columns: Sequence[str], *,
                 max_rows: int = 5000, max_interval: float = 1.0, retries: int = 4, backoff: float = 0.1,
                 max_backoff: float = 2.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.holder, self.database, self.table, self.columns = holder, database, table, list(columns)
        self.max_rows, self.max_interval = max_rows, max_interval
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff
        self.clock, self.sleep = clock, sleep
        self.sealed: list[tuple[str, list[Row]]] = []  # (token, rows), oldest first
        self.open: list[Row] = []
        self.opened_at: float | None = None
        self.healthy = True
        self.rows_written = 0

    @property
    def pending_rows(self) -> int:
        return len(self.open) + sum(len(rows) for _, rows in self.sealed)

    def add(self, rows: Sequence[Row]) -> None:
        if rows and self.opened_at is None:
            self.opened_at = self.clock()
        self.open.extend(rows)
        while len(self.open) >= self.max_rows:
            self._seal(self.max_rows)

    def due(self) -> bool:
        if self.sealed or len(self.open) >= self.max_rows:
            return True
        return bool(self.open) and self.opened_at is not None and self.clock() - self.opened_at >= self.max_interval

    def flush(self) -> int:
        """Insert every pending row; return rows inserted. Raises SinkUnavailable (rows kept)."""
        if self.open:
            self._seal(len(self.open))
        written = 0
        while self.sealed:
            token, rows = self.sealed[0]
            self._insert_with_retries(token, rows)
            self.sealed.pop(0)
            written += len(rows)
        self.rows_written += written
        self.healthy = True
        return written

    def discard(self) -> int:
        """Drop every pending row (the batch will be redelivered); return how many were dropped."""
        dropped = self.pending_rows
        self.sealed, self.open, self.opened_at = [], [], None
        return dropped

    def _seal(self, size: int) -> None:
        rows, self.open = self.open[:size], self.open[size:]
        self.sealed.append((batch_token(self.table, rows), rows))
        self.opened_at = self.clock() if self.open else None

    def _insert_with_retries(self, token: str, rows: list[Row]) -> None:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                self._insert(token, rows)
                return
            except Exception as error:
                self.holder.reset()
                if attempt == self.retries:
                    self.healthy = False
                    raise SinkUnavailable(self.table, self.pending_rows, error) from error
                self.sleep(delay)
                delay = min(delay * 2, self.max_backoff)

    def _insert(self, token: str, rows: list[Row]) -> None:
        self.holder.get().insert(self.table, rows, column_names=self.columns, database=self.database,
                                 settings={"insert_deduplication_token": token})
