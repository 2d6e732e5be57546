"""The worker's ClickHouse extension wires the settings into the sinks it builds."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from streams.settings import Settings
from streams.worker.sink_agent import SinkWriter, Warehouse, register_sink


class FakeApp:
    should_stop = False

    def __init__(self) -> None:
        self.on_before_shutdown = SimpleNamespace(connect=lambda function: function)

    def agent(self, topic: Any, name: str) -> Any:
        return lambda function: function


@pytest.mark.parametrize("redact", [False, True])
def test_worker_sinks_follow_signals_redact_content(tmp_path: Path, redact: bool) -> None:
    app = FakeApp()
    settings = Settings(clickhouse=f"chdb://{tmp_path}", redact_content=redact)
    warehouse = register_sink(app, SimpleNamespace(trajectories=None, events=None), settings)
    assert warehouse is not None
    try:
        assert len(app.sink_writers) == 2  # records and raw events
        assert all(writer.sink.redact_content is redact for writer in app.sink_writers)
    finally:
        warehouse.close()


class FailingSink:
    """A sink whose ClickHouse is down: rows are built, every flush fails."""

    def __init__(self) -> None:
        self.pending, self.flushes = 0, 0

    def write_reports(self, reports: list[Any], events: list[Any]) -> None:
        self.pending += len(reports) + len(events)

    def flush(self) -> int:
        self.flushes += 1
        raise ConnectionError("ClickHouse is down")

    def discard(self) -> int:
        dropped, self.pending = self.pending, 0
        return dropped


def held_batch(tmp_path: Path, rebalance_after_flushes: int) -> tuple[Warehouse, FailingSink, SinkWriter]:
    warehouse = Warehouse(f"chdb://{tmp_path}", "db", initial_backoff=0.01, max_backoff=0.02)
    sink = FailingSink()
    warehouse.rebalancing = lambda: sink.flushes >= rebalance_after_flushes
    return warehouse, sink, SinkWriter(warehouse, sink, "records")  # type: ignore[arg-type]


def test_a_rebalance_releases_the_held_batch_without_writing_it(tmp_path: Path) -> None:
    warehouse, sink, writer = held_batch(tmp_path, rebalance_after_flushes=3)
    try:
        asyncio.run(asyncio.wait_for(writer.write([], ["e1", "e2"]), timeout=10))  # type: ignore[list-item]
        assert sink.flushes == 3  # it held and retried until the rebalance began
        assert sink.pending == 0  # the rows are dropped: the batch is read again from the committed offset
        assert writer.rows_written == 0
    finally:
        warehouse.close()


def test_the_schema_migration_is_not_released_by_a_rebalance(tmp_path: Path) -> None:
    warehouse, sink, _ = held_batch(tmp_path, rebalance_after_flushes=0)
    try:
        with pytest.raises(asyncio.TimeoutError):  # keeps retrying: there is no batch to give up
            asyncio.run(asyncio.wait_for(warehouse.until_done("migrate", sink.flush), timeout=0.3))
        assert sink.flushes > 1
    finally:
        warehouse.close()
