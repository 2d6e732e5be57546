"""The worker's ClickHouse extension wires the settings into the sinks it builds."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from detectors.model import UserMessage
from sinks.writer import Backoff, Writer, retrying
from streams.settings import Settings
from streams.worker.metrics import Metrics
from streams.worker.sink_agent import WorkerClickHouse, register_sink


class FakeApp:
    should_stop = False

    def __init__(self) -> None:
        self.on_before_shutdown = SimpleNamespace(connect=lambda function: function)
        self.metrics = Metrics()

    def agent(self, topic: Any, name: str) -> Any:
        return lambda function: function

    def task(self, function: Any) -> Any:
        return function


@pytest.mark.parametrize("redact", [False, True])
def test_worker_sinks_follow_signals_redact_content(tmp_path: Path, redact: bool) -> None:
    app = FakeApp()
    settings = Settings(clickhouse=f"chdb://{tmp_path}", redact_content=redact)
    clickhouse = register_sink(app, SimpleNamespace(trajectories=None, events=None), settings)
    assert clickhouse is not None
    try:
        assert len(app.writers) == 2  # records and raw events
        assert all(writer.redact_content is redact for writer in app.writers)
    finally:
        clickhouse.close()


def test_the_worker_writers_retry_with_the_settings_backoff_and_no_limit(tmp_path: Path) -> None:
    app = FakeApp()
    settings = Settings(clickhouse=f"chdb://{tmp_path}", sink_backoff_s=0.2, sink_max_backoff_s=4.0, sink_retries=1)
    clickhouse = register_sink(app, SimpleNamespace(trajectories=None, events=None), settings)
    assert clickhouse is not None
    try:
        assert all(writer.backoff == Backoff(0.2, 4.0, retries=None) for writer in app.writers)
    finally:
        clickhouse.close()


class DownClient:
    """A client whose ClickHouse is down: every insert fails."""

    def __init__(self) -> None:
        self.inserts = 0

    def insert(self, *args: Any, **kwargs: Any) -> None:
        self.inserts += 1
        raise ConnectionError("ClickHouse is down")

    def close(self) -> None:
        pass


def held_batch(tmp_path: Path, rebalance_after_inserts: int) -> tuple[WorkerClickHouse, DownClient, Writer]:
    clickhouse = WorkerClickHouse(f"chdb://{tmp_path}", "db", backoff=Backoff(0.01, 0.02))
    client = DownClient()
    clickhouse.rebalancing = lambda: client.inserts >= rebalance_after_inserts
    return clickhouse, client, Writer(lambda: client, "db", backoff=clickhouse.backoff, tables=("events",))


EVENTS = [UserMessage(trajectory_id="t", seq=0, text="one"), UserMessage(trajectory_id="t", seq=1, text="two")]


def test_a_rebalance_releases_the_held_batch_without_writing_it(tmp_path: Path) -> None:
    clickhouse, client, writer = held_batch(tmp_path, rebalance_after_inserts=3)
    try:
        asyncio.run(asyncio.wait_for(clickhouse.write(writer, "events", [], EVENTS), timeout=10))
        assert client.inserts == 3  # it held and retried until the rebalance began
        assert writer.pending_rows == 0  # the rows are dropped: the batch is read again from the committed offset
        assert writer.rows_written == 0
    finally:
        clickhouse.close()


def test_the_schema_migration_is_not_released_by_a_rebalance(tmp_path: Path) -> None:
    clickhouse, client, _ = held_batch(tmp_path, rebalance_after_inserts=0)
    try:
        with pytest.raises(asyncio.TimeoutError):  # keeps retrying: there is no batch to give up
            asyncio.run(asyncio.wait_for(clickhouse.until_done("migrate", retrying(client.insert, clickhouse.backoff)),
                                         timeout=0.3))
        assert client.inserts > 1
    finally:
        clickhouse.close()
