"""The worker's Faust adapter (streams/worker/agents.py ``Ingest``) over fakes: metrics by value,
consumer lag, idle ticks, the partitioner, revocation, listeners, and the table's partitions."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import TopicPartition

from detectors.adapters import Trajectory
from detectors.session import DEFAULT_ENGINE, Engine
from streams.codec import TICK_HEADERS
from streams.pipeline import ended
from streams.worker.agents import RecordPacer, TableStore
from tests.builders import A, C, R, U, conv
from tests.support.faust_fakes import FakeConsumer, FakeEvent, Msg, PartitionedTable, fake_ingest, msg, tick


def talk(tid: str, start: float = 1_700_000_000.0) -> list:
    return conv(tid, U("Book a flight to Paris"), A("Which date?"), C("search", {"to": "PAR"}, call_id="c1"),
                R("error: timeout", call_id="c1"), U("No, that's wrong, I said Paris"), A("Done."), start_ts=start)


def sample(ingest: Any, name: str, labels: dict[str, str] | None = None) -> float | None:
    return ingest.metrics.registry.get_sample_value(name, labels or {})


def run(*coroutines: Any) -> None:
    async def all_of() -> None:
        for coroutine in coroutines:
            await coroutine
    asyncio.run(all_of())


def test_counters_by_value_signals_per_type_records_per_finality_and_closes_per_trigger() -> None:
    ingest, producer = fake_ingest({"SIGNALS_RECORD_INTERVAL_S": "0"})
    events = ended(Trajectory(id="a", events=talk("a")))
    run(ingest.process([FakeEvent(msg(events[:3]))]), ingest.process([FakeEvent(msg(events[3:]))]))
    sent_signals = [json.loads(v)["signal"]["type"] if "signal" in json.loads(v) else json.loads(v)["type"]
                    for t, _, v, _ in producer.sent if t == "sig"]
    assert sent_signals and sample(ingest, "signals_messages_total") == 2
    assert sample(ingest, "signals_events_total") == len(events)
    for kind in set(sent_signals):
        assert sample(ingest, "signals_signals_total", {"type": kind}) == sent_signals.count(kind)
    assert sample(ingest, "signals_records_total", {"final": "false"}) == 1
    assert sample(ingest, "signals_records_total", {"final": "true"}) == 1
    assert sample(ingest, "signals_sessions_closed_total", {"trigger": "end"}) == 1


def test_latency_is_observed_for_timestamped_input_only_never_for_ticks() -> None:
    ingest, _ = fake_ingest({})
    stamped = msg(talk("a")[:1])
    stamped.timestamp = 1.0  # long ago: the observed latency is now - 1 s
    run(ingest.process([FakeEvent(stamped), FakeEvent(msg(talk("b")[:1])), FakeEvent(tick())]))
    assert sample(ingest, "signals_processing_latency_seconds_count") == 1
    assert sample(ingest, "signals_processing_latency_seconds_sum") > 1e9  # now - 1.0, not 1.0 - now or 0


def test_lag_is_the_highwater_minus_the_next_offset_per_assigned_partition_of_the_events_topic() -> None:
    ev0, ev1, other = TopicPartition("ev", 0), TopicPartition("ev", 1), TopicPartition("traj", 0)
    consumer = FakeConsumer({ev0: 10, ev1: None, other: 99})
    ingest, _ = fake_ingest({}, consumer=consumer)
    first = msg(talk("a")[:1], partition=0)
    first.offset = 6
    run(ingest.process([FakeEvent(first)]), ingest.tick_quiet_partitions())
    assert sample(ingest, "signals_consumer_lag", {"partition": "0"}) == 3  # offsets 7, 8, 9 unread
    assert sample(ingest, "signals_consumer_lag", {"partition": "1"}) is None  # no highwater, nothing read
    consumer.highwaters[ev0] = 7
    run(ingest.tick_quiet_partitions())
    assert sample(ingest, "signals_consumer_lag", {"partition": "0"}) == 0
    consumer.highwaters[ev0] = 3  # a highwater behind the position (truncated topic): 0, never negative
    run(ingest.tick_quiet_partitions())
    assert sample(ingest, "signals_consumer_lag", {"partition": "0"}) == 0


def test_quiet_partitions_with_open_sessions_get_an_idle_tick_and_open_sessions_are_counted(monkeypatch: Any) -> None:
    import streams.worker.agents as agents

    ev0, ev1, other = TopicPartition("ev", 0), TopicPartition("ev", 1), TopicPartition("traj", 2)
    ingest, producer = fake_ingest({"SIGNALS_IDLE_CLOSE_S": "60"},
                                   consumer=FakeConsumer({ev0: 1, ev1: 1, other: 1}))
    clock = [1000.0]
    monkeypatch.setattr(agents.time, "time", lambda: clock[0])
    run(ingest.process([FakeEvent(msg(talk("a")[:2], partition=0)), FakeEvent(msg(talk("b")[:2], partition=1))]))
    run(ingest.process([FakeEvent(msg(ended(Trajectory(id="b", events=talk("b")))[2:], partition=1))]))
    clock[0] += 61.0
    run(ingest.tick_quiet_partitions())
    assert sample(ingest, "signals_open_sessions") == 1  # a is open, b closed
    ticks = [(t, k, v, h) for t, k, v, h in producer.sent if h == TICK_HEADERS]
    assert ticks == [("ev", None, b"", TICK_HEADERS)]  # partition 0 only: partition 1 has no open session
    assert producer.partitions[-1] == 0


def test_the_partitioner_is_kafkas_default_so_a_rebuilt_index_finds_each_key_where_the_producer_put_it() -> None:
    ingest, _ = fake_ingest({"SIGNALS_PARTITIONS": "6"})
    kafka = DefaultPartitioner()
    keys = [f"trajectory-{i}".encode() for i in range(200)] + [b"", b"\xff" * 40]
    assert [ingest._partition_of(k) for k in keys] == [kafka(k, list(range(6)), list(range(6))) for k in keys]


def test_revocation_forgets_held_records_the_cache_the_index_and_the_partitions_lag() -> None:
    ev0 = TopicPartition("ev", 0)
    ingest, producer = fake_ingest({"SIGNALS_RECORD_INTERVAL_S": "3600"}, consumer=FakeConsumer({ev0: 9}))
    a = talk("a")
    run(ingest.process([FakeEvent(msg(a[:1]))]), ingest.process([FakeEvent(msg(a[1:2]))]),
        ingest.tick_quiet_partitions())
    assert ingest.records.held and ingest.store.cache and ingest.pipeline.tracker.rebuilt
    assert sample(ingest, "signals_consumer_lag", {"partition": "0"}) == 8
    ingest.store.flush()  # the commit that precedes a revocation (Faust's wait_empty) writes the states
    ingest.revoked({ev0})
    assert sample(ingest, "signals_consumer_lag", {"partition": "0"}) is None
    run(ingest.tick_quiet_partitions())  # assigned back: no lag from the old position before a read
    assert sample(ingest, "signals_consumer_lag", {"partition": "0"}) is None
    assert not ingest.records.held and not ingest.records.sent_at and not ingest.store.cache
    assert not ingest.pipeline.tracker.rebuilt  # re-indexed from the table before the next batch
    run(ingest.process([FakeEvent(msg(a[2:3]))]))  # a new owner's first record goes out at once
    assert [json.loads(v)["events"] for t, _, v, _ in producer.sent if t == "traj"] == [1, 3]


def test_listeners_get_every_update_with_its_record_also_when_the_record_is_held() -> None:
    ingest, producer = fake_ingest({"SIGNALS_RECORD_INTERVAL_S": "3600"})
    heard: list[tuple[int, int, bool]] = []
    ingest.listeners.append(lambda update, report: heard.append((len(update.events), report.events, report.final)))
    events = ended(Trajectory(id="a", events=talk("a")))
    run(*(ingest.process([FakeEvent(msg([event]))]) for event in events))
    assert heard == [(1, n, n == len(events)) for n in range(1, len(events) + 1)]
    assert [json.loads(v)["events"] for t, _, v, _ in producer.sent if t == "traj"] == [1, len(events)]


def test_no_record_is_built_for_a_held_update_without_listeners(monkeypatch: Any) -> None:
    ingest, _ = fake_ingest({"SIGNALS_RECORD_INTERVAL_S": "3600"})
    built: list[int] = []
    from streams.pipeline import Update
    original = Update.report
    monkeypatch.setattr(Update, "report", lambda self, version: built.append(1) or original(self, version))
    a = talk("a")
    run(*(ingest.process([FakeEvent(msg([event]))]) for event in a[:4]))
    assert len(built) == 1  # the first record only; the three held ones are built when sent


def test_a_table_returning_equal_bytes_not_the_same_object_still_hits_the_cache() -> None:
    class Copying(dict):  # as RocksDB: every get returns new bytes
        def get(self, key: Any, default: Any = None) -> Any:
            value = super().get(key, default)
            return None if value is None else bytes(bytearray(value))

    class Counting(Engine):
        decodes = 0

        def decode_state(self, raw: bytes) -> Any:
            Counting.decodes += 1
            return super().decode_state(raw)

    engine = Counting(triage=DEFAULT_ENGINE.triage)
    ingest, _ = fake_ingest({}, table=Copying(), engine=engine)
    a = talk("a")
    run(*(ingest.process([FakeEvent(msg([event]))]) for event in a))
    assert Counting.decodes == 0


def test_saves_and_drops_go_to_the_partition_of_their_own_message() -> None:
    from streams.worker import faust_fixes

    table = PartitionedTable()
    store = TableStore(table, DEFAULT_ENGINE, cache_size=10)
    from detectors.session import Session
    origin0, origin1 = FakeEvent(Msg(0, b"x", b"")), FakeEvent(Msg(1, b"y", b""))
    faust_fixes.set_current_event(origin0)  # the stream's current event is another partition's
    store.save(b"b", Session("b"), origin1)
    faust_fixes.set_current_event(origin0)  # the commit's flush runs in another task
    assert store.flush() == 1
    assert set(table.parts[1]) == {b"b"} and not table.parts.get(0)
    store.forget_cache()  # nothing decoded or unwritten: the next load reads the table
    faust_fixes.set_current_event(origin0)
    assert store.load(b"b", origin1) is not None  # read from its own message's partition
    faust_fixes.set_current_event(origin0)
    store.drop(b"b", origin1)
    assert table.parts[1] == {}


def test_a_session_dropped_before_the_commit_is_never_written() -> None:
    from detectors.session import Session

    table: dict[bytes, bytes] = {}
    store = TableStore(table, DEFAULT_ENGINE, cache_size=10)
    origin = FakeEvent(Msg(0, b"x", b""))
    store.save(b"gone", Session("gone"), origin)
    store.drop(b"gone", origin)
    assert store.load(b"gone", origin) is None
    assert store.flush() == 0 and table == {}


def test_the_worker_writes_its_sessions_before_every_commit() -> None:
    from streams.settings import Settings
    from streams.worker.app import build_app

    app, ingest = build_app(Settings(store="memory://", web_port=0))
    assert ingest is not None and app._signals_before_commit == [ingest.store.flush]


def test_briefs_read_closed_and_last_ts_of_stored_states() -> None:
    from detectors.session import Session

    table: dict[bytes, bytes] = {}
    store = TableStore(table, DEFAULT_ENGINE, cache_size=10)
    origin = FakeEvent(Msg(0, b"x", b""))
    open_, closed = Session("o"), Session("c")
    for event in talk("o", start=100.0)[:2]:
        open_.feed(event)
    for event in talk("c", start=200.0):
        closed.feed(event)
    closed.close()
    store.save(b"o", open_, origin)
    store.save(b"c", closed, origin)
    assert sorted(store.briefs()) == [(b"c", True, 205.0), (b"o", False, 101.0)]


def test_a_pacer_sends_again_exactly_at_the_interval_and_a_sent_record_clears_an_older_held_one() -> None:
    from detectors.session import Session

    pacer = RecordPacer(2.0)
    s1, s2, s3 = Session("a"), Session("a"), Session("a")
    assert pacer.due(b"a", s1, 0.0) is True
    assert pacer.due(b"a", s2, 1.0) is False
    assert pacer.due(b"a", s3, 2.0) is True  # at the interval: sent, and s2 is no longer held
    assert pacer.held_due(10.0) == []


def test_latency_is_now_minus_the_message_time_zero_for_a_clock_ahead_and_headers_do_not_hide_it(
        monkeypatch: Any) -> None:
    import streams.worker.agents as agents

    monkeypatch.setattr(agents.time, "time", lambda: 1000.0)
    ingest, _ = fake_ingest({})
    behind, ahead = msg(talk("a")[:1]), msg(talk("b")[:1])
    behind.timestamp, behind.headers = 995.0, [("traceparent", b"00-1-2-01")]
    ahead.timestamp = 1100.0  # the producer's clock is ahead: 0, not negative and not 1
    run(ingest.process([FakeEvent(behind), FakeEvent(ahead)]))
    assert sample(ingest, "signals_processing_latency_seconds_count") == 2
    assert sample(ingest, "signals_processing_latency_seconds_sum") == 5.0


def test_lag_is_kept_when_a_read_partition_has_no_highwater_yet() -> None:
    ev0 = TopicPartition("ev", 0)
    consumer = FakeConsumer({ev0: 10})
    ingest, _ = fake_ingest({}, consumer=consumer)
    first = msg(talk("a")[:1], partition=0)
    first.offset = 4
    run(ingest.process([FakeEvent(first)]), ingest.tick_quiet_partitions())
    consumer.highwaters[ev0] = None
    run(ingest.tick_quiet_partitions())
    assert sample(ingest, "signals_consumer_lag", {"partition": "0"}) == 5


class FakeStream:
    def __init__(self, batches: list[list[Any]]) -> None:
        self.batches, self.taken = batches, None

    async def take_events(self, n: int, within: float) -> Any:
        self.taken = (n, within)
        for batch in self.batches:
            yield batch


def wired(env: dict[str, str], tmp_path: Any, monkeypatch: Any) -> tuple[Any, Any, list]:
    """register_ingest on a real (never started) Faust app; the producer and declare faked."""
    import streams.worker.agents as agents
    from streams.settings import Settings
    from streams.worker.app import create_app
    from streams.worker.topics import build_topics
    from tests.support.faust_fakes import FakeProducer

    settings = Settings.from_env({"store": "memory://", "data_dir": str(tmp_path), "web_port": 0}, env=env)
    app = create_app(settings)
    declared: list = []

    async def declare(topics: Any) -> None:
        declared.append(topics)

    monkeypatch.setattr(agents, "declare", declare)
    producer = FakeProducer()
    monkeypatch.setattr(type(app), "producer", producer, raising=False)
    return app, agents.register_ingest(app, build_topics(app, settings), settings), declared


def test_the_registered_agent_declares_the_topics_then_processes_each_batch(tmp_path: Any, monkeypatch: Any) -> None:
    app, ingest, declared = wired({}, tmp_path, monkeypatch)
    a = ended(Trajectory(id="a", events=talk("a")))
    stream = FakeStream([[FakeEvent(msg(a[:3]))], [FakeEvent(msg(a[3:]))]])
    run(app.agents["ingest"].fun(stream))
    assert len(declared) == 1 and stream.taken == (ingest.settings.batch_max, ingest.settings.batch_within_s)
    assert sample(ingest, "signals_messages_total") == 2
    assert sample(ingest, "signals_records_total", {"final": "true"}) == 1
    assert ingest.metrics is not None and app.producer.sent  # the app's producer got the sends


def test_the_registered_timers_tick_quiet_partitions_and_send_held_records(tmp_path: Any, monkeypatch: Any) -> None:
    app, ingest, _ = wired({}, tmp_path, monkeypatch)
    import inspect

    timers = {t.__name__: inspect.unwrap(t) for t in app._app_tasks}  # the bodies, without Faust's loop
    assert set(timers) == {"quiet_partitions", "held_records"}
    called: list[str] = []

    async def tick() -> None:
        called.append("tick")

    async def held() -> None:
        called.append("held")

    monkeypatch.setattr(ingest, "tick_quiet_partitions", tick)
    monkeypatch.setattr(ingest, "send_held_records", held)
    run(timers["quiet_partitions"](), timers["held_records"]())
    assert called == ["tick", "held"]


def test_without_pacing_no_held_records_timer_is_registered(tmp_path: Any, monkeypatch: Any) -> None:
    app, _, _ = wired({"SIGNALS_RECORD_INTERVAL_S": "0"}, tmp_path, monkeypatch)
    assert [t.__name__ for t in app._app_tasks] == ["quiet_partitions"]


def test_a_revocation_signal_reaches_the_adapter(tmp_path: Any, monkeypatch: Any) -> None:
    app, ingest, _ = wired({}, tmp_path, monkeypatch)
    ingest.pipeline.tracker.rebuilt = True
    ingest.store.cache[b"x"] = (b"", None)
    run(app.on_partitions_revoked.send(revoked=set()))
    assert not ingest.pipeline.tracker.rebuilt and not ingest.store.cache
