"""execution.loops.*: retry, parameter drift, oscillation; one signal per loop episode."""

from __future__ import annotations

from typing import Any

import pytest

from detectors.execution.loops import LoopDetector
from detectors.model import Event, Signal
from detectors.session import Engine, Session, analyze
from tests.builders import C, R, U, conv

ENGINE = Engine([LoopDetector()])


def run(events: list[Event], engine: Engine = ENGINE) -> list[Signal]:
    return analyze("t", events, engine=engine).signals


def summary(signals: list[Signal]) -> list[tuple[str, int, str]]:
    return [(s.type.rsplit(".", 1)[1], s.index, s.tool) for s in signals]


def calls(*names: str, args: Any = None, **kw: Any) -> list[dict[str, Any]]:
    return [C(name, {"a": 1} if args is None else args, **kw) for name in names]


def test_c19_retry_once_per_run() -> None:
    [signal] = run(conv("c19", *calls("get_status", "get_status", "get_status", "get_status", args={"id": "42"})))
    assert summary([signal]) == [("retry", 2, "get_status")]
    assert signal.metadata == {"loop_type": "retry", "start_index": 0, "end_index": 2, "call_count": 3,
                               "mode": "consecutive"}
    assert signal.confidence == pytest.approx(0.95)


def test_c20_parameter_drift_confirmed_at_close() -> None:
    events = conv("c20", *[C("find", {"q": q}) for q in ("r", "ro", "rom", "rome")])
    [signal] = run(events)
    assert summary([signal]) == [("parameter_drift", 3, "find")]
    assert (signal.metadata["call_count"], signal.metadata["variation_count"]) == (4, 4)


def test_drift_confirmed_by_the_next_call_of_another_tool() -> None:
    events = conv("t", *[C("find", {"q": q}) for q in ("r", "ro", "rom")], C("book", {}))
    [signal] = run(events)
    assert summary([signal]) == [("parameter_drift", 3, "find")]
    assert (signal.metadata["start_index"], signal.metadata["end_index"]) == (0, 2)


def test_c21_retry_suppresses_overlapping_drift() -> None:
    events = conv("c21", *[C("find", {"q": q}) for q in ("x", "y", "z", "z", "z")])
    [signal] = run(events)
    assert summary([signal]) == [("retry", 4, "find")]
    assert (signal.metadata["start_index"], signal.metadata["end_index"]) == (2, 4)


def test_c22_oscillation_with_interleaved_results() -> None:
    specs = [s for _ in range(3) for s in (C("open_file", {}), R("ok"), C("close_file", {}), R("ok"))]
    [signal] = run(conv("c22", *specs))
    assert summary([signal]) == [("oscillation", 10, "close_file")]
    assert signal.metadata["pattern"] == ["open_file", "close_file"]
    assert (signal.metadata["start_index"], signal.metadata["cycle_count"]) == (0, 3)


def test_oscillation_run_gives_one_signal_and_three_tools_work() -> None:
    specs = [C(name, {"i": i}) for i in range(5) for name in ("plan", "act", "check")]
    [signal] = run(conv("t", *specs))
    assert summary([signal]) == [("oscillation", 8, "check")]
    assert signal.metadata["pattern"] == ["plan", "act", "check"]


def test_flaw19_key_order_and_string_arguments_are_one_retry() -> None:
    events = conv("t", C("s", '{"a":1,"b":2}'), C("s", '{"b":2,"a":1}'), C("s", {"b": 2, "a": 1}))
    assert summary(run(events)) == [("retry", 2, "s")]


def test_flaw23_aaab_three_times_is_one_loop() -> None:
    names = [n for _ in range(3) for n in ("A", "A", "A", "B")]
    assert summary(run(conv("t", *calls(*names)))) == [("retry", 2, "A")]
    assert summary(run(conv("t", *calls(*names), start_ts=0.0))) == [("retry", 2, "A")]


def test_retry_within_time_window_despite_interleaving() -> None:
    specs = [C("s", {"q": 1}), C("o", {}), C("s", {"q": 1}), C("p", {}), C("s", {"q": 1})]
    [signal] = run(conv("t", *specs, start_ts=100.0, step=5.0))
    assert summary([signal]) == [("retry", 4, "s")]
    assert signal.metadata["mode"] == "time_window"
    assert (signal.metadata["start_index"], signal.metadata["call_count"]) == (0, 3)
    assert run(conv("t", *specs, start_ts=100.0, step=20.0)) == []  # 40 s apart: not a retry
    assert run(conv("t", *specs)) == []  # no event time: only consecutive repeats count


def test_retry_window_and_threshold_are_configurable() -> None:
    engine = Engine([LoopDetector(retry_min=4, retry_window_s=100.0)])
    specs = [C("s", {"q": 1}), C("o", {}), C("s", {"q": 1}), C("p", {}), C("s", {"q": 1})]
    assert run(conv("t", *specs, start_ts=0.0, step=20.0), engine) == []
    assert summary(run(conv("t", *specs, C("s", {"q": 1}), start_ts=0.0, step=20.0), engine)) == [("retry", 5, "s")]


def test_new_retry_burst_after_the_time_window_is_a_new_episode() -> None:
    events = conv("t", *calls("s", "s", "s"), *calls("s", "s", "s", ts=1000.0), start_ts=0.0)
    assert summary(run(events)) == [("retry", 2, "s"), ("retry", 5, "s")]


def test_no_loop_for_varied_work() -> None:
    events = conv("t", U("plan a trip"), *[C(n, {"q": n}) for n in ("search", "book", "pay", "email")])
    assert run(events) == []
    assert run(conv("t", *calls("s", "s"))) == []


def test_window_must_hold_the_oscillation_span() -> None:
    with pytest.raises(ValueError, match="window"):
        LoopDetector(window=8)


def test_fed_one_by_one_with_state_round_trips_equals_batch() -> None:
    specs = [*calls("A", "A", "A", "B") * 3, *[C("find", {"q": q}) for q in "xyz"], *calls("C", "D") * 3]
    events = conv("t", *specs, start_ts=0.0, step=3.0)
    session = Session("t", engine=ENGINE)
    streamed: list[Signal] = []
    for event in events:
        streamed += session.feed(event)
        session = Session("t", engine=ENGINE, state=ENGINE.decode_state(ENGINE.encode_state(session.state)))
    streamed += session.close()
    assert streamed == run(events)
    assert len(streamed) >= 2


def test_successful_lookups_of_different_ids_are_enumeration_not_drift() -> None:
    events = conv("t", *[spec for i in range(4) for spec in (
        C("get_reservation_details", {"id": f"R{i}"}, call_id=f"c{i}"), R(f'{{"reservation_id": "R{i}"}}', call_id=f"c{i}"))])
    assert [s.type for s in analyze("t", events).signals if s.type.startswith("execution.loops")] == []


def test_varying_arguments_after_errors_is_drift() -> None:
    events = conv("t", *[spec for i in range(4) for spec in (
        C("update_reservation_flights", {"payment": f"card_{i}"}, call_id=f"c{i}"),
        R("Error: gift card balance is not enough", call_id=f"c{i}"))])
    loops = [s for s in analyze("t", events).signals if s.type.startswith("execution.loops")]
    assert [s.type for s in loops] == ["execution.loops.parameter_drift"]
    assert loops[0].metadata["call_count"] == 4


def _searches(results: list[str], tool: str = "search_direct_flight", key: str = "date") -> list[Event]:
    values = [f"2024-05-{day:02d}" for day in range(1, len(results) + 1)]
    return conv("t", U("find me a flight JFK to SFO in early May"), *[spec for i, (value, result) in enumerate(
        zip(values, results, strict=True)) for spec in (
        C(tool, {"origin": "JFK", "destination": "SFO", key: value}, call_id=f"c{i}"), R(result, call_id=f"c{i}"))])


@pytest.mark.parametrize("empty", ["[]", "{}", '{"flights": []}', "No flights found", "not found", "0 results"])
def test_one_argument_drifting_while_only_empty_results_come_back_is_drift(empty: str) -> None:
    """Issue 10 item 7: dates (or ids) drift while nothing useful comes back -- empty, not an error."""
    loops = [s for s in analyze("t", _searches([empty] * 4)).signals if s.type.startswith("execution.loops")]
    assert [(s.type, s.tool) for s in loops] == [("execution.loops.parameter_drift", "search_direct_flight")]
    assert (loops[0].metadata["call_count"], loops[0].metadata["variation_count"]) == (4, 4)


def test_ids_drifting_through_not_found_results_is_drift() -> None:
    events = conv("t", *[spec for i in range(3) for spec in (
        C("get_order_details", {"order_id": f"#W00{i}"}, call_id=f"c{i}"), R("Order not found", call_id=f"c{i}"))])
    assert [s.type for s in run(events)] == ["execution.loops.parameter_drift"]


@pytest.mark.parametrize("results", [
    ['[{"flight_number": "HAT001"}]'] * 4,  # every lookup found something: enumeration
    [""] * 4,  # a blank result (a "think" tool) is not an empty answer
])
def test_results_with_content_or_blank_results_are_not_drift(results: list[str]) -> None:
    assert run(_searches(results)) == []
