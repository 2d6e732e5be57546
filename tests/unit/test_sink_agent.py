"""The worker's ClickHouse extension wires the settings into the sinks it builds."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from detectors.model import UserMessage
from sinks.writer import Backoff, Writer, retrying
from streams.settings import Settings
from streams.worker.events_sink import LAG_S
from streams.worker.metrics import Metrics
from streams.worker.sink_agent import RecordsLag, WorkerClickHouse, register_sink

TOPICS = SimpleNamespace(trajectories=SimpleNamespace(get_topic_name=lambda: "traj"), events=None)


class FakeApp:
    should_stop = False
    flow_control = SimpleNamespace(is_active=lambda: True)  # no rebalance

    def __init__(self) -> None:
        self.on_before_shutdown = SimpleNamespace(connect=lambda function: function)
        self.metrics = Metrics()
        self.timers: dict[str, tuple[float, Any]] = {}

    def timer(self, interval: float) -> Any:
        def register(function: Any) -> Any:
            self.timers[function.__name__] = (interval, function)
            return function
        return register

    def agent(self, topic: Any, name: str) -> Any:
        return lambda function: function

    def task(self, function: Any) -> Any:
        return function


@pytest.mark.parametrize("redact", [False, True])
def test_worker_sinks_follow_signals_redact_content(tmp_path: Path, redact: bool) -> None:
    app = FakeApp()
    settings = Settings(clickhouse=f"chdb://{tmp_path}", redact_content=redact)
    clickhouse = register_sink(app, TOPICS, settings)
    assert clickhouse is not None
    try:
        assert len(app.writers) == 2  # records and raw events
        assert all(writer.redact_content is redact for writer in app.writers)
    finally:
        clickhouse.close()


def test_the_worker_writers_retry_with_the_settings_backoff_and_no_limit(tmp_path: Path) -> None:
    app = FakeApp()
    settings = Settings(clickhouse=f"chdb://{tmp_path}", sink_backoff_s=0.2, sink_max_backoff_s=4.0, sink_retries=1)
    clickhouse = register_sink(app, TOPICS, settings)
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


class Offsets:
    """Faust's consumer as RecordsLag reads it: assignment, committed offsets, end offsets."""

    def __init__(self, assigned: set[TP], committed: dict[TP, int | None], ends: dict[TP, int]) -> None:
        self.assigned, self._committed_offset, self.ends = assigned, committed, ends
        self.asked: list[tuple[TP, ...]] = []

    def assignment(self) -> set[TP]:
        return set(self.assigned)

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        self.asked.append(tps)
        return {tp: self.ends[tp] for tp in tps}


def test_records_sink_lag_is_each_assigned_partitions_end_offset_minus_the_committed_one() -> None:
    traj0, traj1, events0 = TP("traj", 0), TP("traj", 1), TP("events", 0)
    consumer = Offsets({traj0, traj1, events0}, {traj0: 4, traj1: None, events0: 0}, {traj0: 10, traj1: 7})
    metrics = Metrics()
    lag = RecordsLag(SimpleNamespace(consumer=consumer), "traj", metrics.records_sink_lag)
    value = lambda p: metrics.registry.get_sample_value("signals_records_sink_lag", {"partition": p})  # noqa: E731
    asyncio.run(lag.report())
    assert (value("0"), value("1")) == (6.0, None)  # partition 1 has no committed offset yet
    assert consumer.asked == [(traj0,)]  # only the trajectories topic, only what has a baseline
    consumer._committed_offset[traj1], consumer.ends[traj0] = 7, 12  # partition 1 written to its end
    asyncio.run(lag.report())
    assert (value("0"), value("1")) == (8.0, 0.0)
    consumer.assigned = {traj1}  # partition 0 went to another process: its series goes
    asyncio.run(lag.report())
    assert (value("0"), value("1")) == (None, 0.0)


def test_the_sink_reports_the_records_lag_on_a_timer_that_survives_a_failed_round(tmp_path: Path) -> None:
    class Failing(Offsets):
        async def highwaters(self, *tps: TP) -> dict[TP, int]:
            raise ConnectionError("the broker went away")

    app = FakeApp()
    app.consumer = Failing({TP("traj", 0)}, {TP("traj", 0): 3}, {})  # type: ignore[attr-defined]
    clickhouse = register_sink(app, TOPICS, Settings(clickhouse=f"chdb://{tmp_path}"))
    assert clickhouse is not None
    try:
        interval, report = app.timers["records_sink_lag"]
        assert interval == LAG_S
        asyncio.run(report())  # logged, not raised: a timer that raises would stop reporting
        app.consumer = Offsets({TP("traj", 0)}, {TP("traj", 0): 3}, {TP("traj", 0): 5})  # type: ignore[attr-defined]
        asyncio.run(report())
        value = lambda: app.metrics.registry.get_sample_value("signals_records_sink_lag", {"partition": "0"})  # noqa: E731
        assert value() == 2.0
        app.consumer.ends[TP("traj", 0)] = 9  # type: ignore[attr-defined]
        app.should_stop = True  # stopping: no call into the consumer's thread
        asyncio.run(report())
        assert value() == 2.0 and app.consumer.asked == [(TP("traj", 0),)]  # type: ignore[attr-defined]
    finally:
        clickhouse.close()
