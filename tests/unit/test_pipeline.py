"""streams.pipeline without a broker: batching, grouping, every close trigger, retention and the
straggler after it, late events, duplicates, key-less messages, DLQ routing and rejected_total;
and the worker's Faust adapter (streams.worker.agents.Ingest) over fake Faust objects."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec

from detectors.adapters import Trajectory
from detectors.model import SessionEnd
from detectors.session import DEFAULT_ENGINE, analyze
from detectors.triage import dump_config, packaged_config
from streams.codec import OVERSIZE, TICK_MESSAGE, Rejected, encode_events, encode_report
from streams.pipeline import (
    END,
    IDLE,
    INACTIVITY,
    MemoryStore,
    Outcome,
    Pipeline,
    ended,
    engine_for,
    from_files,
)
from tests.builders import A, C, End, R, U, conv
from tests.support.faust_fakes import (
    FakeEvent,
    FakeProducer,
    FakeTopic,
    Msg,
    PartitionedTable,
    fake_ingest,
    msg,
    tick,
)

NOW = 1_000_000.0


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.saves: list[bytes] = []

    def save(self, key: bytes, session: Any, origin: Any) -> None:
        self.saves.append(key)
        super().save(key, session, origin)


def record(update: Any) -> dict:
    return json.loads(encode_report(update.report("v")))


def pipeline(**kw: Any) -> tuple[Pipeline, CountingStore]:
    store = CountingStore()
    kw.setdefault("gap_s", 1800.0)
    return Pipeline(store, idle_close_s=60.0, closed_retention_s=3600.0, **kw), store


def talk(tid: str, start: float = 1_700_000_000.0) -> list:
    return conv(tid, U("Book a flight to Paris"), A("Which date?"), C("search", {"to": "PAR"}, call_id="c1"),
                R("error: timeout", call_id="c1"), U("No, that's wrong, I said Paris"), A("Done."), start_ts=start)


def test_one_update_and_one_state_write_per_trajectory_per_batch() -> None:
    p, store = pipeline()
    a, b = talk("a"), talk("b")
    out = p.process([msg(a[:2]), msg(b[:3]), msg(a[2:4]), msg(b[3:])], NOW)
    assert [u.key for u in out.updates] == [b"a", b"b"]
    assert store.saves == [b"a", b"b"]
    assert (out.messages, out.events) == (4, len(a[:4]) + len(b))
    assert record(out.updates[0]) == json.loads(encode_report(analyze("a", a[:4], pipeline_version="v", close=False)))


def test_key_less_messages_are_grouped_by_trajectory_id() -> None:
    p, _ = pipeline()
    a = talk("a")
    out = p.process([msg(a[:3], key=None), msg(a[3:], key=None)], NOW)
    assert [u.key for u in out.updates] == [b"a"]
    assert out.updates[0].session.state.features.events == len(a)


def test_end_event_closes_with_the_batch_analysis_record() -> None:
    p, _ = pipeline()
    events = ended(Trajectory(id="a", events=talk("a")))
    out = p.process([msg(events[:4]), msg(events[4:])], NOW)
    (update,) = out.updates
    assert update.trigger == END and update.session.state.closed
    assert record(update) == json.loads(encode_report(analyze("a", events, pipeline_version="v")))
    assert sum(len(u.signals) for u in out.updates) == len(update.session.state.signals)


def test_signals_emitted_by_the_close_on_an_end_event_are_published_with_the_update() -> None:
    propose = A("I can cancel reservation ZFA04Y for a full refund. Would you like me to proceed (yes/no)?")
    events = ended(Trajectory(id="s", events=conv(
        "s", U("cancel ZFA04Y"), propose, U("yes"), C("cancel_reservation", {"reservation_id": "ZFA04Y"}, call_id="c1"),
        R('{"reservation_id": "ZFA04Y", "status": "cancelled"}', call_id="c1"), start_ts=1000.0)))
    p, _ = pipeline()
    before_end = p.process([msg(events[:-1])], NOW)
    assert before_end.updates[0].signals == []  # nothing fires before the close ...
    (update,) = p.process([msg(events[-1:])], NOW).updates
    assert update.trigger == END
    assert [s.type for s in update.signals] == ["execution.consistency.silent_action"]  # ... the close emits it
    assert update.signals == update.session.state.signals and update.times == [events[-1].ts]


def test_event_time_inactivity_closes_sessions_behind_the_watermark() -> None:
    p, _ = pipeline(gap_s=100.0)
    old, new = talk("old", start=1000.0), talk("new", start=1200.0)
    first = p.process([msg(old)], NOW)
    assert first.updates[0].trigger is None
    out = p.process([msg(new[:1])], NOW + 1)
    assert [(u.key, u.trigger) for u in out.updates] == [(b"new", None), (b"old", INACTIVITY)]
    assert record(out.updates[1]) == json.loads(encode_report(analyze("old", old, pipeline_version="v")))


def test_an_idle_tick_closes_sessions_quiet_for_idle_close_s_and_is_not_input() -> None:
    p, _ = pipeline()
    p.process([msg(talk("a"))], NOW)
    early = p.process([tick()], NOW + 59)
    assert early.updates == [] and early.rejections == [] and early.ticks == 1 and early.messages == 0
    out = p.process([tick()], NOW + 60)
    assert [(u.key, u.trigger) for u in out.updates] == [(b"a", IDLE)]
    assert out.updates[0].session.state.closed and p.rejected_total == {}


def test_quiet_partitions_get_one_tick_per_idle_period_only_with_open_sessions() -> None:
    p, _ = pipeline()
    assert p.quiet([0, 1], NOW) == [0, 1]  # not rebuilt yet: tick so the index gets rebuilt
    p.process([msg(talk("a"), partition=1)], NOW)
    assert p.quiet([0, 1], NOW + 30) == []
    assert p.quiet([0, 1], NOW + 60) == [1]  # partition 0 holds no open session
    assert p.quiet([0, 1], NOW + 61) == []


def test_late_event_within_retention_re_emits_an_updated_final_record() -> None:
    p, store = pipeline()
    events = ended(Trajectory(id="a", events=talk("a")))
    p.process([msg(events)], NOW)
    late = conv("a", *[U("x")] * (len(events) + 1), start_ts=1_700_000_100.0)[-1:]  # seq after the end
    out = p.process([msg(late)], NOW + 10)
    (update,) = out.updates
    assert update.trigger is None and update.session.state.closed
    rec = record(update)
    assert rec["final"] is True and rec["events"] == len(events) + 1
    assert b"a" in store.sessions


def test_duplicates_after_the_close_re_emit_the_identical_final_record() -> None:
    p, _ = pipeline()
    events = ended(Trajectory(id="a", events=talk("a")))
    first = p.process([msg(events)], NOW)
    again = p.process([msg(events)], NOW + 5)
    assert record(again.updates[0]) == record(first.updates[0]) and again.updates[0].signals == []


def test_after_retention_state_is_dropped_and_a_straggler_starts_a_new_session() -> None:
    p, store = pipeline()
    events = ended(Trajectory(id="a", events=talk("a")))
    p.process([msg(events)], NOW)
    kept = p.process([tick()], NOW + 3599)
    assert kept.expired == 0 and b"a" in store.sessions
    gone = p.process([tick()], NOW + 3600)
    assert gone.expired == 1 and b"a" not in store.sessions
    straggler = conv("a", *[U("x")] * (len(events) + 1), start_ts=1_700_000_100.0)[-1:]
    out = p.process([msg(straggler)], NOW + 3601)
    rec, state = record(out.updates[0]), out.updates[0].session.state
    assert rec["final"] is False and rec["events"] == 0  # a fresh session: it waits for seq 0
    assert [e.seq for e in state.pending] == [straggler[0].seq]


def test_bad_messages_are_routed_with_their_original_message_and_counted() -> None:
    p, _ = pipeline()
    good = talk("a")
    bad = [Msg(0, b"k", b"{not json"), Msg(0, b"x", b""), Msg(0, b"other", encode_events(good[:1]))]
    out = p.process([*bad, msg(good)], NOW)
    assert [(r.message, r.rejected.reason) for r in out.rejections] == [
        (bad[0], "json"), (bad[1], "empty"), (bad[2], "key_mismatch")]
    assert p.rejected_total == {"json": 1, "empty": 1, "key_mismatch": 1}
    assert [u.key for u in out.updates] == [b"a"] and out.messages == 4


def test_a_restarted_pipeline_rebuilds_its_index_from_the_store() -> None:
    p, store = pipeline()
    p.process([msg(talk("a")), msg(ended(Trajectory(id="b", events=talk("b"))))], NOW)
    again = Pipeline(store, idle_close_s=60.0, closed_retention_s=3600.0)
    assert again.process([tick()], NOW + 60).updates == []  # idleness counts from the rebuild
    assert again.tracker.open_count() == 1
    out = again.process([tick()], NOW + 120)
    assert [(u.key, u.trigger) for u in out.updates] == [(b"a", IDLE)]  # b was already closed
    assert again.tracker.open_count() == 0


def test_files_end_each_trajectory_as_produce_does() -> None:
    trajectory = Trajectory(id="f", events=talk("other-id"))
    (done,) = from_files([trajectory], pipeline_version="v")
    assert [type(e).__name__ for e in done.events][-1] == "SessionEnd"
    assert {e.trajectory_id for e in done.events} == {"f"}
    assert done.report == analyze("f", ended(trajectory), pipeline_version="v")
    ends = ended(Trajectory(id="g", events=conv("g", U("hi"), End())))
    assert len(ends) == 2  # an existing end event is not doubled


# ------------------------------------------------------------------ defaults and bookkeeping, by value


def default_pipeline() -> tuple[Pipeline, CountingStore]:
    store = CountingStore()
    return Pipeline(store), store


def test_default_gap_closes_on_inactivity_only_past_1800_s_behind_the_watermark() -> None:
    p, _ = default_pipeline()
    old = talk("old", start=1000.0)
    p.process([msg(old)], NOW)
    last = old[-1].ts
    at_gap = p.process([msg(talk("at", start=last + 1800.0)[:1])], NOW)
    assert [(u.key, u.trigger) for u in at_gap.updates] == [(b"at", None)]  # exactly the gap: still open
    past = p.process([msg(talk("past", start=last + 1800.5)[:1])], NOW)
    assert [(u.key, u.trigger) for u in past.updates] == [(b"past", None), (b"old", INACTIVITY)]


def test_default_idle_close_is_60_s_and_default_retention_3600_s() -> None:
    p, store = default_pipeline()
    p.process([msg(talk("a"))], NOW)
    assert p.process([tick()], NOW + 59.5).updates == []
    closed = p.process([tick()], NOW + 60)
    assert [(u.key, u.trigger) for u in closed.updates] == [(b"a", IDLE)]
    assert p.process([tick()], NOW + 60 + 3599.5).expired == 0 and b"a" in store.sessions
    assert p.process([tick()], NOW + 60 + 3600).expired == 1 and b"a" not in store.sessions


def test_default_event_limit_is_one_mib_per_message() -> None:
    p, _ = default_pipeline()
    small = encode_events(conv("a", U("x")))
    text = "x" * ((1 << 20) - len(small) + 1)
    at_limit = encode_events(conv("a", U(text)))
    assert len(at_limit) == 1 << 20
    over = encode_events(conv("a", U(text + "x")))
    out = p.process([Msg(0, b"a", at_limit), Msg(0, b"a", over)], NOW)
    assert [r.rejected.reason for r in out.rejections] == [OVERSIZE] and out.events == 1
    assert p.rejected_total == {OVERSIZE: 1}


def test_decode_uses_the_pipelines_event_limit() -> None:
    p = Pipeline(MemoryStore(), max_event_bytes=200)
    events = talk("a")[:1]
    assert p.decode(msg(events)) == events
    big = encode_events(conv("a", U("x" * 200)))
    assert p.decode(Msg(0, b"a", big)) == Rejected(OVERSIZE, f"{len(big)} bytes > limit 200")
    assert p.decode(tick()) is TICK_MESSAGE


def test_input_on_a_partition_postpones_its_idle_tick() -> None:
    p, _ = pipeline()
    p.process([msg(talk("a"))], NOW)  # the first batch: no tick was sent before it
    assert p.quiet([0], NOW + 59) == []
    assert p.quiet([0], NOW + 60) == [0]


def test_a_key_less_message_of_one_event_is_grouped_by_its_trajectory_id() -> None:
    p, _ = pipeline()
    out = p.process([msg(talk("a")[:1], key=None)], NOW)
    assert [(u.key, u.session.state.features.events) for u in out.updates] == [(b"a", 1)]


class LoadCountingStore(CountingStore):
    def __init__(self) -> None:
        super().__init__()
        self.loads: list[bytes] = []

    def load(self, key: bytes, origin: Any = None) -> Any:
        self.loads.append(key)
        return super().load(key, origin)


def test_a_session_is_read_from_the_store_once_per_batch() -> None:
    store = LoadCountingStore()
    p = Pipeline(store, gap_s=100.0)
    old, new = talk("old", start=1000.0), talk("new", start=2000.0)
    out = p.process([msg(old), msg(new[:1])], NOW)  # old fed, then closed on inactivity in the same batch
    assert [(u.key, u.trigger) for u in out.updates] == [(b"old", None), (b"new", None), (b"old", INACTIVITY)]
    assert store.loads == [b"old", b"new"]
    p.process([msg(new[1:])], NOW + 1)
    assert store.loads == [b"old", b"new", b"new"]  # the next batch reads it again


def test_between_batches_the_store_is_the_only_state() -> None:
    p, store = pipeline()
    a = talk("a")
    p.process([msg(a[:3])], NOW)
    store.drop(b"a", None)  # gone from the store (e.g. the table lost the partition's state)
    out = p.process([msg(a[3:])], NOW + 1)
    state = out.updates[0].session.state
    assert state.features.events == 0 and [e.seq for e in state.pending] == [e.seq for e in a[3:]]


def test_after_end_batch_the_steps_read_the_store_again() -> None:
    p, store = pipeline()
    a = talk("a")
    out = Outcome()
    groups: dict = {}
    p.add(groups, None, 0, b"a", a[:3], out)
    p.apply(groups, NOW, out)
    p.end_batch()
    store.drop(b"a", None)
    assert p.session(b"a", "a", None).state.features.events == 0


def test_a_session_closed_outside_the_pipeline_is_not_closed_or_published_again() -> None:
    p, store = pipeline()
    p.process([msg(talk("a"))], NOW)
    store.sessions[b"a"].close()  # an adapter closing it itself (from_files does, then forgets it)
    assert p.process([tick()], NOW + 60).updates == []


def test_a_session_dropped_after_retention_is_gone_within_the_batch() -> None:
    p, _ = pipeline()
    events = ended(Trajectory(id="a", events=talk("a")))
    p.process([msg(events)], NOW)
    assert p.session(b"a", "a", None).state.closed  # read in this batch, then expired in it
    out = Outcome()
    p.close_due(0, None, NOW + 3600, out, tick=True)
    assert out.expired == 1
    assert p.session(b"a", "a", None).state.features.events == 0  # a fresh session, not the dropped one


def test_forget_drops_the_session_and_its_index_entry_at_once() -> None:
    p, store = pipeline()
    p.process([], NOW)  # the (empty) index is rebuilt once, at the first batch
    a = talk("a")
    out = Outcome()
    groups: dict = {}
    p.add(groups, None, 0, b"a", a, out)
    p.apply(groups, NOW, out)
    p.forget(b"a")
    assert b"a" not in store.sessions
    assert p.session(b"a", "a", None).state.features.events == 0  # not from the batch either
    p.end_batch()
    assert p.process([tick()], NOW + 60).updates == []  # nothing left to close
    assert p.tracker.open_count() == 0


def test_reset_forgets_the_revoked_sessions_and_rebuilds_from_the_store() -> None:
    p, store = pipeline()
    p.process([], NOW)  # the (empty) index is rebuilt once, at the first batch
    a = talk("a")
    out = Outcome()
    groups: dict = {}
    p.add(groups, None, 0, b"a", a[:3], out)
    p.apply(groups, NOW, out)
    p.reset()  # partitions revoked, mid-batch
    store.sessions.clear()  # their state went with them
    assert p.session(b"a", "a", None).state.features.events == 0
    p.end_batch()
    assert p.process([tick()], NOW + 60).updates == []  # the index was rebuilt from the (empty) store


def test_rebuild_re_indexes_from_the_store_only() -> None:
    p, store = pipeline()
    p.process([msg(talk("a")), msg(talk("b"))], NOW)
    store.drop(b"a", None)
    p.rebuild(NOW)
    out = p.process([tick()], NOW + 60)
    assert [(u.key, u.trigger) for u in out.updates] == [(b"b", IDLE)]


def test_the_end_event_of_a_file_takes_the_last_events_time() -> None:
    events = talk("f", start=1000.0)
    *_, end = ended(Trajectory(id="f", events=events))
    assert end == SessionEnd(trajectory_id="f", seq=len(events), ts=1005.0)
    assert ended(Trajectory(id="e", events=[])) == [SessionEnd(trajectory_id="e", seq=0, ts=None)]


def test_files_with_the_same_id_are_each_analysed_on_their_own() -> None:
    first, second = talk("x"), conv("x", U("thanks, that works"), A("Glad to help."), start_ts=1_700_000_000.0)
    gapped = [*first[:4], msgspec.structs.replace(first[4], seq=9)]  # its end event waits behind a gap
    done = list(from_files([Trajectory(id="x", events=t) for t in (first, second, gapped, second)]))
    assert [d.report for d in done] == [analyze("x", ended(Trajectory(id="x", events=t)))
                                        for t in (first, second, gapped, second)]
    assert all(d.report.final for d in done)


def test_a_file_whose_end_waits_behind_a_gap_is_closed_with_its_close_signals() -> None:
    propose = A("I can cancel reservation ZFA04Y for a full refund. Would you like me to proceed (yes/no)?")
    events = conv("g", U("cancel ZFA04Y"), propose, U("yes"),
                  C("cancel_reservation", {"reservation_id": "ZFA04Y"}, call_id="c1"),
                  R('{"reservation_id": "ZFA04Y", "status": "cancelled"}', call_id="c1"), start_ts=1000.0)
    events.append(msgspec.structs.replace(conv("g", A("Anything else?"))[0], seq=9))  # seq 5..8 never come
    (done,) = from_files([Trajectory(id="g", events=events)])
    assert [s.type for s in done.signals] == ["execution.consistency.silent_action"]  # emitted at the close
    assert done.report.final and done.report.signals == done.signals
    assert done.report == analyze("g", ended(Trajectory(id="g", events=events)))


def test_engine_for_reads_the_triage_config_once_and_the_empty_path_is_the_default(tmp_path: Any) -> None:
    config = msgspec.structs.replace(packaged_config(), bias=-3.25, source="test")
    path = tmp_path / "triage.toml"
    path.write_text(dump_config(config))
    engine = engine_for(str(path))
    assert engine.triage == config and engine_for(str(path)) is engine
    assert engine_for("") is DEFAULT_ENGINE


# ------------------------------------------------------------------ the Faust adapter, faked


def test_the_worker_adapter_sends_dlq_signals_and_records_and_counts() -> None:
    from types import SimpleNamespace

    from streams.settings import Settings
    from streams.worker.agents import Ingest
    from streams.worker.metrics import Metrics
    from streams.worker.topics import Topics

    producer = FakeProducer()
    app = SimpleNamespace(producer=producer)
    topics = Topics(events=FakeTopic("ev"), signals=FakeTopic("sig"), trajectories=FakeTopic("traj"),
                    dlq=FakeTopic("dlq"))
    table: dict[bytes, bytes] = {}
    metrics = Metrics()
    ingest = Ingest(app, topics, table, Settings.from_env(env={}), metrics)
    events = ended(Trajectory(id="a", events=talk("a")))
    batch = [FakeEvent(Msg(0, b"k", b"{bad", [("trace", b"1")], offset=7)), FakeEvent(msg(events))]
    asyncio.run(ingest.process(batch))
    dlq = [s for s in producer.sent if s[0] == "dlq"]
    assert [(k, v) for _, k, v, _ in dlq] == [(b"k", b"{bad")]
    assert dict(dlq[0][3])["x-error-reason"] == b"json" and ("trace", b"1") in dlq[0][3]
    records = [json.loads(v) for t, _, v, _ in producer.sent if t == "traj"]
    assert [(r["id"], r["final"]) for r in records] == [("a", True)]
    signals = [json.loads(v) for t, _, v, _ in producer.sent if t == "sig"]
    assert len(signals) == len(records[0]["signals"]) > 0
    ingest.store.flush()  # what the next offset commit does first
    state = ingest.engine.decode_state(table[b"a"])
    assert state.closed and msgspec.json.decode(encode_report(analyze("a", events)))["events"] == records[0]["events"]
    assert metrics.registry.get_sample_value("signals_rejected_total", {"reason": "json"}) == 1
    assert metrics.registry.get_sample_value("signals_messages_total") == 2
    assert metrics.registry.get_sample_value("signals_sessions_closed_total", {"trigger": "end"}) == 1


def test_the_worker_adapter_reads_each_session_in_its_own_partition() -> None:
    """A batch ending with a message of another partition: the RocksDB table must still find the
    session (it reads in the current event's partition: the stream's last, unless the adapter
    names the session's own message). Without that, the session restarts empty and its record is
    written with no events (the SIGKILL fault test with the RocksDB store found it)."""
    from types import SimpleNamespace

    from streams.settings import Settings
    from streams.worker import faust_fixes
    from streams.worker.agents import Ingest
    from streams.worker.metrics import Metrics
    from streams.worker.topics import Topics

    producer = FakeProducer()
    topics = Topics(events=FakeTopic("ev"), signals=FakeTopic("sig"), trajectories=FakeTopic("traj"),
                    dlq=FakeTopic("dlq"))
    table = PartitionedTable()
    every_update = Settings.from_env(env={"SIGNALS_RECORD_INTERVAL_S": "0"})  # each interim record is sent
    ingest = Ingest(SimpleNamespace(producer=producer), topics, table, every_update, Metrics())
    a, b = talk("a"), talk("b")

    async def batch(*events: FakeEvent) -> None:
        faust_fixes.set_current_event(events[-1])  # as the Faust stream leaves it: its last event
        await ingest.process(list(events))

    async def run() -> None:
        await batch(FakeEvent(msg(a[:2], partition=0)))
        await batch(FakeEvent(msg(a[2:], partition=0)), FakeEvent(msg(b[:1], partition=1)))

    asyncio.run(run())
    last_a = [json.loads(v) for t, k, v, _ in producer.sent if t == "traj" and k == b"a"][-1]
    assert last_a["events"] == len(a)


def _records(producer: FakeProducer) -> list[tuple[int, bool]]:
    return [(r["events"], r["final"]) for r in (json.loads(v) for t, _, v, _ in producer.sent if t == "traj")]


def test_interim_records_are_paced_and_final_ones_are_sent_at_once(monkeypatch: Any) -> None:
    import streams.worker.agents as agents

    clock = [100.0]
    monkeypatch.setattr(agents.time, "monotonic", lambda: clock[0])
    ingest, producer = fake_ingest({"SIGNALS_RECORD_INTERVAL_S": "5"})
    events = ended(Trajectory(id="a", events=talk("a")))

    async def run() -> None:
        for part in (events[:1], events[1:2], events[2:3]):  # three interim updates within 5 s
            await ingest.process([FakeEvent(msg(part))])
            clock[0] += 1.0
        await ingest.send_held_records()  # 102 s: the held one's interval has not passed
        assert _records(producer) == [(1, False)]
        clock[0] = 105.0
        await ingest.send_held_records()  # now the latest held one goes out, once
        await ingest.send_held_records()
        assert _records(producer) == [(1, False), (3, False)]
        await ingest.process([FakeEvent(msg(events[3:4]))])  # 105 s: held (the last went out at 105)
        await ingest.process([FakeEvent(msg(events[4:]))])  # the end event: final, at once
        clock[0] = 200.0
        await ingest.send_held_records()  # the final one superseded the held interim record

    asyncio.run(run())
    assert _records(producer) == [(1, False), (3, False), (len(events), True)]
    signals = [s for s in producer.sent if s[0] == "sig"]
    assert len(signals) == len(json.loads(producer.sent[-1][2])["signals"]) > 0  # signals are never held


def test_with_record_interval_0_every_update_sends_its_record() -> None:
    ingest, producer = fake_ingest({"SIGNALS_RECORD_INTERVAL_S": "0"})
    events = ended(Trajectory(id="a", events=talk("a")))

    async def run() -> None:
        for event in events:
            await ingest.process([FakeEvent(msg([event]))])

    asyncio.run(run())
    assert _records(producer) == [(n, n == len(events)) for n in range(1, len(events) + 1)]


def test_the_record_pacer_keeps_the_latest_held_session_and_forgets_closed_and_revoked_keys() -> None:
    from detectors.session import Session
    from streams.worker.agents import RecordPacer

    def session(n: int, close: bool = False) -> Session:
        s = Session("a")
        for event in talk("a")[:n]:
            s.feed(event)
        if close:
            s.close()
        return s

    pacer = RecordPacer(2.0)
    open1, open2, final = session(2), session(3), session(6, close=True)
    assert pacer.due(b"a", open1, 0.0) and not pacer.due(b"a", open2, 1.9)
    assert pacer.held_due(1.99) == [] and pacer.held_due(2.0) == [(b"a", open2)] and pacer.held_due(9.0) == []
    assert not pacer.due(b"a", open1, 3.0) and pacer.due(b"a", final, 3.0)
    assert pacer.sent_at == {} and pacer.held == {}  # a final record ends what is kept of its key
    assert pacer.due(b"b", open1, 10.0) and not pacer.due(b"b", open2, 10.5)
    pacer.forget()
    assert pacer.held_due(99.0) == [] and pacer.due(b"b", open2, 10.6)  # the new owner's first


def test_record_interval_must_not_be_negative() -> None:
    import pytest

    from streams.errors import CliError
    from streams.settings import Settings

    with pytest.raises(CliError, match="SIGNALS_RECORD_INTERVAL_S >= 0"):
        Settings.from_env(env={"SIGNALS_RECORD_INTERVAL_S": "-1"})
    assert Settings.from_env(env={}).record_interval_s == 1.0


def test_signal_times_are_the_event_times_they_were_produced_at_whatever_the_batching() -> None:
    events = [*talk("t-times", start=1_700_000_000.0), SessionEnd(trajectory_id="t-times", seq=6, ts=1_700_000_050.0)]

    def times(batches: list[list]) -> list[tuple[str, float | None]]:
        p, _ = pipeline()
        out = []
        for batch in batches:
            out += [(s.type, t) for u in p.process([msg(b) for b in batch], NOW).updates
                    for s, t in zip(u.signals, u.times, strict=True)]
        return out

    whole, single = times([[events]]), times([[[e]] for e in events])
    assert whole == single
    by_type = dict(whole)
    assert by_type["interaction.misalignment.correction"] == 1_700_000_004.0  # the correction's own event
    assert by_type["environment.exhaustion.timeout"] == 1_700_000_003.0  # the failing tool result's


def test_an_update_carries_the_events_applied_in_its_step() -> None:
    p, _ = pipeline()
    a = talk("a")
    out = p.process([msg(a[:2]), msg(a[2:4])], NOW)
    assert out.updates[0].events == a[:4]
    closed = p.process([tick()], NOW + 3600).updates  # closed by idleness: no events in that step
    assert [u.events for u in closed] == [[]]


def test_a_revoked_partition_leaves_no_stale_lag_behind() -> None:
    """With several processes, a partition that moved away must not keep its last lag here (an alert
    on a partition another process consumes); the partitions still owned keep theirs."""
    from types import SimpleNamespace

    from streams.settings import Settings
    from streams.worker.agents import Ingest
    from streams.worker.metrics import Metrics
    from streams.worker.topics import Topics

    highwaters = {0: 50, 1: 80}
    consumer = SimpleNamespace(highwater=lambda tp: highwaters[tp.partition])
    app = SimpleNamespace(producer=FakeProducer(), consumer=consumer)
    topics = Topics(events=FakeTopic("ev"), signals=FakeTopic("sig"), trajectories=FakeTopic("traj"),
                    dlq=FakeTopic("dlq"))
    metrics = Metrics()
    ingest = Ingest(app, topics, {}, Settings.from_env(env={}), metrics)
    ingest.offsets.update({0: 9, 1: 19})
    parts = [SimpleNamespace(topic="ev", partition=p) for p in (0, 1)]
    for tp in parts:
        ingest.report_lag(tp)
    assert metrics.registry.get_sample_value("signals_consumer_lag", {"partition": "1"}) == 60  # the positive case

    ingest.forget_partitions([parts[1], SimpleNamespace(topic="other", partition=0)])
    assert metrics.registry.get_sample_value("signals_consumer_lag", {"partition": "1"}) is None
    assert metrics.registry.get_sample_value("signals_consumer_lag", {"partition": "0"}) == 40
