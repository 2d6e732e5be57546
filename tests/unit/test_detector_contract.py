"""The contract every registered detector keeps (DEFAULT_DETECTORS, whichever layer it belongs to)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from detectors.base import CloseView, Detector, EventView
from detectors.model import SIGNAL_TYPES, Event, Signal
from detectors.registry import DEFAULT_DETECTORS
from detectors.session import Engine, Session
from tests.builders import A, C, End, Fb, R, U, conv

CONVERSATIONS: list[list[Event]] = [
    conv("mix", U("set up the account"), C("create_account", {"age": "ten"}, call_id="1"),
         R("Error: validation failed - expected integer got string", call_id="1"), A("Sorry, retrying."),
         C("lookup", {}, call_id="2"), R("HTTP 401 Unauthorized", call_id="2"), R("read timed out"),
         U("No, I meant the other account!!"), A("Done."), U("Thank you so much, that works"), End()),
    conv("loops", *[C("get", {"id": 1}) for _ in range(4)], *[C("find", {"q": q}) for q in ("r", "ro", "rom")],
         *[C(n, {}) for _ in range(3) for n in ("open", "close")], start_ts=1000.0, step=2.0),
    conv("parallel", U("Book a hotel in Rome and check the weather"),
         C("book_hotel", '{"city":"Rome"}', call_id="a"), C("get_weather", '{"city":"Rome"}', call_id="b"),
         R('{"error": {"message": "rate limit", "code": 429}}', call_id="a"), R("22C, clear", call_id="b"),
         A("I need your dates."), U("That's not what I asked, just the weather"), Fb(0.0)),
    conv("talk", *[s for i in range(8) for s in (U(f"explain topic {i % 3} again please"), A("It is like so."))],
         U("I NEED TO TALK TO A HUMAN RIGHT NOW!!"), U("forget it, i give up")),
    conv("consent", U("cancel my booking ZFA04Y"), A("I can cancel ZFA04Y. Shall I proceed?"), U("what is the refund?"),
         C("cancel_reservation", {"reservation_id": "ZFA04Y"}, call_id="x"), R('{"status": "cancelled"}', call_id="x"),
         A("Anything else?"), End()),
    conv("bare", R("HTTP 429: too many requests"), R("Invalid JSON at line 1"), R('{"timeout": 30}'), R("")),
]
IDS = [type(d).__name__ for d in DEFAULT_DETECTORS]


class Spy:
    """Wraps a detector: records the kinds it was shown and checks it leaves views untouched."""

    def __init__(self, inner: Detector) -> None:
        self.inner, self.name, self.kinds, self.state_type = inner, inner.name, inner.kinds, inner.state_type
        self.seen: list[str] = []
        self.emitted: list[tuple[int | None, Signal]] = []  # (event seq or None for close, signal)

    def on_event(self, state: Any, view: EventView) -> list[Signal]:
        before = (msgspec.json.encode(view.event), msgspec.json.encode(view.call), view.index, view.kind)
        out = self.inner.on_event(state, view)
        assert (msgspec.json.encode(view.event), msgspec.json.encode(view.call), view.index, view.kind) == before
        self.seen.append(view.kind)
        self.emitted += [(view.index, s) for s in out]
        return out

    def on_close(self, state: Any, close: CloseView) -> list[Signal]:
        out = self.inner.on_close(state, close)
        self.emitted += [(None, s) for s in out]
        return out


def run(detector: Any, events: list[Event]) -> list[Signal]:
    session = Session(events[0].trajectory_id, engine=Engine([detector]))
    out = [s for e in events for s in session.feed(e)]
    return out + session.close()


@pytest.fixture(params=DEFAULT_DETECTORS, ids=IDS)
def detector(request: pytest.FixtureRequest) -> Detector:
    return request.param  # type: ignore[no-any-return]


def test_registry_is_not_empty() -> None:
    assert DEFAULT_DETECTORS, "no detector registered"


@pytest.mark.parametrize("events", CONVERSATIONS, ids=[c[0].trajectory_id for c in CONVERSATIONS])
def test_deterministic_and_events_untouched(detector: Detector, events: list[Event]) -> None:
    snapshot = msgspec.json.encode(events)
    first = run(detector, events)
    assert run(detector, events) == first
    assert msgspec.json.encode(events) == snapshot


@pytest.mark.parametrize("events", CONVERSATIONS, ids=[c[0].trajectory_id for c in CONVERSATIONS])
def test_signals_well_formed_and_only_wanted_kinds_seen(detector: Detector, events: list[Event]) -> None:
    spy = Spy(detector)
    run(spy, events)
    assert set(spy.seen) <= set(detector.kinds)
    assert len(spy.seen) == sum(1 for e in events if type(e).__struct_config__.tag in detector.kinds)
    last = events[-1].seq
    for seq, signal in spy.emitted:
        assert signal.type in SIGNAL_TYPES and signal.type.startswith(detector.name + ".")
        assert signal.index == seq if seq is not None else 0 <= signal.index <= last
        assert 0.0 <= signal.confidence <= 1.0
        assert len(signal.snippet) <= 200
        msgspec.json.decode(msgspec.json.encode(signal.metadata))


def test_some_detector_output_is_exercised() -> None:
    """Guards the contract tests above against passing vacuously."""
    emitted = {s.type.split(".")[0] for d in DEFAULT_DETECTORS for ev in CONVERSATIONS for s in run(d, ev)}
    assert {"execution", "environment"} <= emitted


@pytest.mark.parametrize("events", CONVERSATIONS, ids=[c[0].trajectory_id for c in CONVERSATIONS])
def test_state_survives_msgpack_round_trip_mid_stream(detector: Detector, events: list[Event]) -> None:
    engine = Engine([detector])
    expected = run(detector, events)
    for cut in range(1, len(events)):
        session = Session("t", engine=engine)
        out = [s for e in events[:cut] for s in session.feed(e)]
        restored = Session("t", engine=engine, state=engine.decode_state(engine.encode_state(session.state)))
        out += [s for e in events[cut:] for s in restored.feed(e)] + restored.close()
        assert out == expected, f"diverged after a round trip at event {cut}"
