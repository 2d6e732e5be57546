"""streams.worker.agents.TableStore: the Faust table of encoded sessions, with the sessions last
written kept decoded (a load of unchanged bytes skips the decode; nothing half-applied survives)."""

from __future__ import annotations

from typing import Any

import pytest

from detectors.session import DEFAULT_ENGINE, Engine, Session, analyze
from streams.worker.agents import TableStore
from tests.builders import A, C, R, U, conv

EVENTS = conv("a", U("Book a flight to Paris"), A("Which date?"), C("search", {"to": "PAR"}, call_id="c1"),
              R("error: timeout", call_id="c1"), U("No, that's wrong, I said Paris"), A("Done."), start_ts=1000.0)


class CountingEngine(Engine):
    def __init__(self) -> None:
        super().__init__(triage=DEFAULT_ENGINE.triage)
        self.decodes = 0

    def decode_state(self, raw: bytes) -> Any:
        self.decodes += 1
        return super().decode_state(raw)


class Origin:  # the message a call is made for (Faust keeps a weak reference to it)
    pass


ORIGIN = Origin()


def fed(session: Session, events: list) -> Session:
    for event in events:
        session.feed(event)
    return session


@pytest.fixture
def engine() -> CountingEngine:
    return CountingEngine()


def test_a_session_saved_and_loaded_again_is_not_decoded_and_gives_the_same_record(engine: CountingEngine) -> None:
    table: dict[bytes, bytes] = {}
    store = TableStore(table, engine, cache_size=10_000)
    store.save(b"a", fed(Session("a", engine=engine), EVENTS[:3]), ORIGIN)
    again = store.load(b"a", ORIGIN)
    assert again is not None and engine.decodes == 0
    store.save(b"a", fed(again, EVENTS[3:]), ORIGIN)
    store.flush()
    fresh = TableStore(table, engine, cache_size=0).load(b"a", ORIGIN)  # from the bytes alone
    assert engine.decodes == 1 and fresh is not None
    assert fresh.report() == again.report() == analyze("a", EVENTS, close=False)


def test_bytes_changed_under_the_cache_are_decoded(engine: CountingEngine) -> None:
    table: dict[bytes, bytes] = {}
    store = TableStore(table, engine, cache_size=10_000)
    store.save(b"a", fed(Session("a", engine=engine), EVENTS[:2]), ORIGIN)
    store.flush()
    table[b"a"] = engine.encode_state(fed(Session("a", engine=engine), EVENTS).state)  # e.g. restored from the changelog
    loaded = store.load(b"a", ORIGIN)
    assert engine.decodes == 1 and loaded is not None and loaded.state.features.events == len(EVENTS)


def test_a_batch_that_fails_before_its_save_leaves_the_stored_state(engine: CountingEngine) -> None:
    table: dict[bytes, bytes] = {}
    store = TableStore(table, engine, cache_size=10_000)
    store.save(b"a", fed(Session("a", engine=engine), EVENTS[:2]), ORIGIN)
    half = store.load(b"a", ORIGIN)
    assert half is not None
    fed(half, EVENTS[2:4])  # applied in memory, then the batch fails: no save
    retried = store.load(b"a", ORIGIN)
    assert retried is not half and engine.decodes == 1
    assert retried is not None and retried.state.features.events == 2  # the events are applied again, once


def test_the_cache_is_bounded_least_recently_saved_first_out_and_dropped_keys_are_gone(engine: CountingEngine) -> None:
    table: dict[bytes, bytes] = {}
    store = TableStore(table, engine, cache_size=2)
    for key in (b"a", b"b", b"c"):
        store.save(key, fed(Session(key.decode(), engine=engine), EVENTS[:1]), ORIGIN)
    assert list(store.cache) == [b"b", b"c"]
    store.flush()
    store.drop(b"c", ORIGIN)
    assert list(store.cache) == [b"b"] and b"c" not in table and store.load(b"c", ORIGIN) is None
    store.forget_cache()
    assert store.cache == {} and store.load(b"b", ORIGIN) is not None and engine.decodes == 1


def test_session_cache_0_decodes_every_load(engine: CountingEngine) -> None:
    table: dict[bytes, bytes] = {}
    store = TableStore(table, engine, cache_size=0)
    store.save(b"a", fed(Session("a", engine=engine), EVENTS[:2]), ORIGIN)
    store.load(b"a", ORIGIN)
    store.load(b"a", ORIGIN)
    assert engine.decodes == 2 and store.cache == {}


def test_saves_reach_the_table_only_at_a_flush_once_per_key_with_the_last_state(engine: CountingEngine) -> None:
    writes: list[bytes] = []

    class Recording(dict):
        def __setitem__(self, key: bytes, value: bytes) -> None:
            writes.append(key)
            super().__setitem__(key, value)

    table = Recording()
    store = TableStore(table, engine, cache_size=0)  # no decoded cache: loads read the written bytes
    session = Session("a", engine=engine)
    for event in EVENTS:
        session.feed(event)
        store.save(b"a", session, ORIGIN)
        loaded = store.load(b"a", ORIGIN)  # read back before any flush
        assert loaded is not None and loaded.state.features.events == session.state.features.events
    store.save(b"b", fed(Session("b", engine=engine), EVENTS[:1]), ORIGIN)
    assert writes == [] and table == {}
    assert store.flush() == 2
    assert sorted(writes) == [b"a", b"b"]
    restored = TableStore(table, engine, cache_size=0).load(b"a", ORIGIN)
    assert restored is not None and restored.report() == analyze("a", EVENTS, close=False)
    assert store.flush() == 0 and len(writes) == 2  # nothing new: nothing written again


def test_revoked_partitions_drop_what_was_not_written_and_briefs_include_it_before(engine: CountingEngine) -> None:
    table: dict[bytes, bytes] = {}
    store = TableStore(table, engine, cache_size=10)
    store.save(b"old", fed(Session("old", engine=engine), EVENTS[:2]), ORIGIN)
    store.flush()
    store.save(b"old", fed(Session("old", engine=engine), EVENTS[:3]), ORIGIN)  # newer, not written yet
    store.save(b"new", fed(Session("new", engine=engine), EVENTS[:1]), ORIGIN)
    briefs = sorted(store.briefs())
    assert [key for key, _, _ in briefs] == [b"new", b"old"]
    assert dict((k, ts) for k, _, ts in briefs)[b"old"] == EVENTS[2].ts
    store.forget_cache()
    assert store.load(b"new", ORIGIN) is None
    kept = store.load(b"old", ORIGIN)
    assert kept is not None and kept.state.features.events == 2  # the state of the last flush
