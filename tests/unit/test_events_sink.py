"""The raw-events sink's loop: a batch is committed only after it is written, held (never
released) while ClickHouse is down, dropped uncommitted at a stop; a failed commit or consumer
does not end the sink, and an error during a stop does not crash the worker."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from detectors.model import UserMessage
from sinks.writer import Backoff, Writer
from streams.codec import encode_events
from streams.settings import Settings
from streams.worker import events_sink
from streams.worker.events_sink import RawEventsSink, next_offsets
from streams.worker.metrics import Metrics
from streams.worker.sink_agent import WorkerClickHouse

TOPIC = "events"


def message(partition: int, offset: int, seq: int = 0) -> Any:
    value = encode_events([UserMessage(trajectory_id=f"t{partition}", seq=seq, text="hi")])
    return SimpleNamespace(topic=TOPIC, partition=partition, offset=offset, value=value)


class FakeConsumer:
    """Hands out the queued batches, one per ``getmany`` and the next only once the previous one
    was committed (or its commit failed); records commits."""

    def __init__(self, batches: list[list[Any]], commit_errors: int = 0) -> None:
        self.batches, self.commit_errors = list(batches), commit_errors
        self.commits: list[dict[TopicPartition, int]] = []
        self.started = self.stopped = False
        self.handed = self.commit_calls = 0
        self.asked: list[tuple[int, int]] = []  # (timeout_ms, max_records) of each getmany
        self.topics: list[str] = []

    topics_created = False

    def subscribe(self, topics: list[str]) -> None:
        self.topics = topics

    def assignment(self) -> set[TopicPartition]:
        return set()  # no lag to report (test_the_lag_is_the_end_minus_the_commit_of_each_assigned_partition)

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        assert max_records >= 1  # as aiokafka requires
        self.asked.append((timeout_ms, max_records))
        if not self.batches or self.handed > self.commit_calls:
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        self.handed += 1
        batch = self.batches.pop(0)[:max_records]
        out: dict[TopicPartition, list[Any]] = {}
        for m in batch:
            out.setdefault(TopicPartition(m.topic, m.partition), []).append(m)
        return out

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commit_calls += 1
        if self.commit_errors:
            self.commit_errors -= 1
            raise CommitFailedError("the group rebalanced")
        self.commits.append(dict(offsets))


class FakeClickHouse:
    """``WorkerClickHouse.write`` as seen by the sink: records what was written, and when."""

    def __init__(self, results: list[bool] | None = None) -> None:
        self.results = list(results or [])
        self.written: list[tuple[int, bool]] = []  # (events, releasable)
        self.stop_after: int | None = None

    async def ensure_schema(self) -> bool:
        return True

    def stopping(self) -> bool:
        return self.stop_after is not None and len(self.written) >= self.stop_after

    async def write(self, writer: Any, what: str, reports: list[Any], events: list[Any], *, releasable: bool) -> bool:
        self.written.append((len(events), releasable))
        return self.results.pop(0) if self.results else True


def sink_with(consumer: FakeConsumer, clickhouse: Any, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> RawEventsSink:
    async def no_topics(*args: Any) -> list[str]:
        assert not consumer.topics, "the topics are created before the consumer subscribes"
        consumer.topics_created = True
        return []
    monkeypatch.setattr(events_sink, "ensure_topics", no_topics)
    sink = RawEventsSink(Settings(**{"sink_batch_within_s": 0.05, **settings}), clickhouse, writer=None,
                         lag=Metrics().sink_lag)  # type: ignore[arg-type]
    sink.consumer = lambda: consumer  # type: ignore[method-assign]
    return sink


def run_until(sink: RawEventsSink, condition: Any, timeout: float = 5.0) -> None:
    async def main() -> None:
        task = asyncio.ensure_future(sink.run())
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition() and not task.done():
            assert asyncio.get_running_loop().time() < deadline, "timed out"
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    asyncio.run(main())


def test_next_offsets_are_one_past_the_last_offset_of_each_partition() -> None:
    messages = [message(0, 5), message(1, 2), message(0, 7), message(0, 6)]
    assert next_offsets(messages) == {TopicPartition(TOPIC, 0): 8, TopicPartition(TOPIC, 1): 3}


def test_a_batch_is_committed_after_it_is_written_and_not_releasable(monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = FakeConsumer([[message(0, 0), message(1, 0, seq=0), message(1, 1, seq=1)], [message(0, 1)]])
    clickhouse = FakeClickHouse()
    run_until(sink_with(consumer, clickhouse, monkeypatch), lambda: len(consumer.commits) == 2)
    assert clickhouse.written == [(3, False), (1, False)]  # a rebalance never releases it: no seek back here
    assert consumer.commits == [{TopicPartition(TOPIC, 0): 1, TopicPartition(TOPIC, 1): 2}, {TopicPartition(TOPIC, 0): 2}]
    assert consumer.stopped and consumer.topics_created and consumer.topics == [Settings().topic_events]


def test_a_batch_released_at_a_stop_is_left_uncommitted(monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = FakeConsumer([[message(0, 0)], [message(0, 1)]])
    clickhouse = FakeClickHouse(results=[False])  # the stop came while ClickHouse was down
    run_until(sink_with(consumer, clickhouse, monkeypatch), lambda: False, timeout=0.5)
    assert clickhouse.written == [(1, False)]
    assert consumer.commits == []  # and it did not go on to the next batch
    assert consumer.stopped


def test_a_failed_commit_is_logged_and_the_sink_goes_on(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    consumer = FakeConsumer([[message(0, 0)], [message(0, 1)]], commit_errors=1)
    run_until(sink_with(consumer, FakeClickHouse(), monkeypatch), lambda: len(consumer.commits) == 1)
    assert consumer.commits == [{TopicPartition(TOPIC, 0): 2}]
    assert "next owner reads them again" in caplog.text


def test_a_batch_holds_at_most_sink_batch_max_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = FakeConsumer([[message(0, i) for i in range(5)], [message(0, 5)]])
    clickhouse = FakeClickHouse()
    run_until(sink_with(consumer, clickhouse, monkeypatch, sink_batch_max=3), lambda: len(consumer.commits) == 2)
    assert [n for n, _ in clickhouse.written] == [3, 1]  # the first getmany was asked for 3 at most
    timeout_ms, max_records = consumer.asked[0]
    assert max_records == 3 and 25 <= timeout_ms <= 50  # what is left of sink_batch_within_s (0.05 s)


def test_a_batch_asks_each_getmany_for_what_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    class TwoAtATime(FakeConsumer):
        async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
            self.asked.append((timeout_ms, max_records))
            if self.commit_calls or len(self.asked) > 2:
                await asyncio.sleep(timeout_ms / 1000)
                return {}
            start = 2 * (len(self.asked) - 1)
            return {TopicPartition(TOPIC, 0): [message(0, start + i) for i in range(2)]}

    consumer = TwoAtATime([])
    clickhouse = FakeClickHouse()
    run_until(sink_with(consumer, clickhouse, monkeypatch, sink_batch_max=5, sink_batch_within_s=0.2),
              lambda: len(consumer.commits) == 1)
    assert [m for _, m in consumer.asked[:3]] == [5, 3, 1]
    assert clickhouse.written[0][0] == 4 and consumer.commits == [{TopicPartition(TOPIC, 0): 4}]


def test_a_failed_consumer_is_replaced(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    monkeypatch.setattr(events_sink, "RESTART_S", 0.013)
    good = FakeConsumer([[message(0, 0)]])
    made: list[FakeConsumer] = []

    class Broken(FakeConsumer):
        async def start(self) -> None:
            raise ConnectionError("no broker")

    sink = sink_with(good, FakeClickHouse(), monkeypatch)
    sink.consumer = lambda: made.append(Broken([]) if not made else good) or made[-1]  # type: ignore[method-assign]
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float) -> None:
        slept.append(delay)
        await real_sleep(delay)
    monkeypatch.setattr(events_sink.asyncio, "sleep", recording_sleep)
    run_until(sink, lambda: len(good.commits) == 1)
    assert len(made) == 2 and "a new one starts" in caplog.text
    assert 0.013 in slept  # it waited RESTART_S before the new consumer


@pytest.mark.parametrize(("session_s", "heartbeat_ms"), [(30.0, 3000), (6.0, 2000)])
def test_the_consumer_is_its_own_group_committing_by_hand(session_s: float, heartbeat_ms: int) -> None:
    async def build() -> dict[str, Any]:
        consumer = RawEventsSink(Settings(app_id="fleet", session_timeout_s=session_s), None, None, None).consumer()  # type: ignore[arg-type]
        try:
            return dict(vars(consumer))
        finally:
            await consumer.stop()
    seen = asyncio.run(build())
    assert seen["_group_id"] == "fleet-raw-events" and seen["_enable_auto_commit"] is False
    assert seen["_auto_offset_reset"] == "earliest"
    assert seen["_session_timeout_ms"] == int(session_s * 1000) and seen["_heartbeat_interval_ms"] == heartbeat_ms


def test_registering_runs_the_sink_as_an_app_task_with_its_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[RawEventsSink] = []

    async def fake_run(self: RawEventsSink) -> None:
        ran.append(self)
    monkeypatch.setattr(RawEventsSink, "run", fake_run)
    tasks: list[Any] = []
    app = SimpleNamespace(writers=[], task=lambda function: tasks.append(function) or function, metrics=Metrics())
    clickhouse = WorkerClickHouse(f"chdb://{tmp_path}", "db")
    try:
        sink = events_sink.register_events_sink(app, Settings(), clickhouse)
        assert app.writers == [sink.writer] and list(sink.writer.tables) == ["events"]
        assert sink.lag is app.metrics.sink_lag
        asyncio.run(tasks[0]())
        assert ran == [sink]
    finally:
        clickhouse.close()


def test_an_error_during_a_stop_ends_the_sink_quietly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At a stop the ClickHouse thread is shut down; the sink must end, not raise (a failed app task
    crashes the worker, which then hung until the shutdown watchdog)."""
    clickhouse = WorkerClickHouse(f"chdb://{tmp_path}", "db", backoff=Backoff(0.01, 0.02))
    clickhouse.close()  # as the app's on_before_shutdown does
    sink = sink_with(FakeConsumer([]), clickhouse, monkeypatch)
    checks = itertools.count()
    clickhouse.stopping = lambda: next(checks) > 0  # not yet stopping when the sink starts, then stopping

    async def main() -> None:
        await asyncio.wait_for(sink.run(), timeout=5)
    asyncio.run(main())  # returns, does not raise


def test_a_held_batch_survives_a_rebalance_of_the_worker_group_and_lands_once(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the real WorkerClickHouse: ClickHouse down for three inserts, the worker's group
    rebalancing all along; the batch is written when ClickHouse is back, then committed."""
    class FlakyClient:
        def __init__(self) -> None:
            self.inserts, self.rows = 0, 0

        def insert(self, table: str, data: Any, **kwargs: Any) -> None:
            self.inserts += 1
            if self.inserts <= 3:
                raise ConnectionError("ClickHouse is down")
            self.rows += len(data)

        def close(self) -> None:
            pass

    client = FlakyClient()
    clickhouse = WorkerClickHouse(f"chdb://{tmp_path}", "db", backoff=Backoff(0.01, 0.02))
    clickhouse.rebalancing = lambda: True
    clickhouse.schema_ready = True
    consumer = FakeConsumer([[message(0, 0), message(0, 1, seq=1)]])
    sink = sink_with(consumer, clickhouse, monkeypatch)
    sink.writer = Writer(lambda: client, "db", backoff=clickhouse.backoff, tables=("events",))
    try:
        run_until(sink, lambda: len(consumer.commits) == 1)
    finally:
        clickhouse.close()
    assert client.inserts == 4 and client.rows == 2
    assert consumer.commits == [{TopicPartition(TOPIC, 0): 2}]


def test_the_lag_is_the_end_minus_the_commit_of_each_assigned_partition() -> None:
    tp0, tp1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)

    class Offsets:
        def __init__(self) -> None:
            self.assigned = {tp0, tp1}
            self.ends, self.starts = {tp0: 10, tp1: 5}, {tp0: 0, tp1: 2}
            self.commits: dict[TopicPartition, int | None] = {tp0: 4, tp1: None}

        def assignment(self) -> set[TopicPartition]:
            return set(self.assigned)

        async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
            return {tp: self.ends[tp] for tp in tps}

        async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
            return {tp: self.starts[tp] for tp in tps}

        async def committed(self, tp: TopicPartition) -> int | None:
            return self.commits[tp]

    metrics = Metrics()
    sink = RawEventsSink(Settings(), None, None, metrics.sink_lag)  # type: ignore[arg-type]
    consumer = Offsets()
    value = lambda p: metrics.registry.get_sample_value("signals_sink_lag", {"partition": p})  # noqa: E731
    asyncio.run(sink.report_lag(consumer))  # type: ignore[arg-type]
    assert (value("0"), value("1")) == (6.0, 3.0)  # never committed: from the log start
    consumer.ends[tp0], consumer.commits[tp1] = 12, 5  # more input; partition 1 written to its end
    consumer.assigned = {tp0, tp1}
    asyncio.run(sink.report_lag(consumer))  # type: ignore[arg-type]
    assert (value("0"), value("1")) == (8.0, 0.0)
    consumer.assigned = {tp0}  # partition 1 went to another process: its series goes
    asyncio.run(sink.report_lag(consumer))  # type: ignore[arg-type]
    assert (value("0"), value("1")) == (8.0, None)


def test_the_running_sink_reports_its_lag_every_round_and_stops_with_its_consumer(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from aiokafka.errors import KafkaConnectionError

    tp0 = TopicPartition(TOPIC, 0)
    rounds: list[float] = []

    class Lagging(FakeConsumer):
        def assignment(self) -> set[TopicPartition]:
            return {tp0}

        async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
            rounds.append(asyncio.get_running_loop().time())
            if len(rounds) == 2:
                raise KafkaConnectionError("the broker went away")  # this round only
            return {tp0: 7 + len(rounds)}

        async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
            return {tp0: 0}

        async def committed(self, tp: TopicPartition) -> int | None:
            return 2

    monkeypatch.setattr(events_sink, "LAG_S", 0.02)
    consumer, clickhouse = Lagging([]), FakeClickHouse()
    sink = sink_with(consumer, clickhouse, monkeypatch)
    gauge = lambda: sink.lag.labels("0")._value.get()  # noqa: E731
    give_up = time.monotonic() + 5  # a reporter that never runs fails the test, not hangs it
    clickhouse.stopping = lambda: len(rounds) >= 4 or time.monotonic() > give_up  # type: ignore[method-assign]

    async def main() -> tuple[int, int]:
        await sink.run()  # until stopping
        done = len(rounds)
        await asyncio.sleep(0.1)  # the same loop: a reporter left running would go on
        return done, len(rounds) - done
    with caplog.at_level("DEBUG", logger="signals.sink"):
        done, after = asyncio.run(main())
    assert done >= 4 and gauge() == 7 + done - 2  # the last round's end minus the commit
    assert "no lag this round (KafkaConnectionError" in caplog.text  # and the rounds went on after it
    assert after == 0 and consumer.stopped  # the reporter ended with the consumer
