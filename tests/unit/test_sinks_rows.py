"""Pure mapping from reports/events to row tuples, and row versions."""

from __future__ import annotations

import json

import pytest

from detectors.model import Signal, TrajectoryReport
from sinks import rows
from sinks.version import MAX_EVENTS, pipeline_rank, rank_of, row_version
from tests.builders import C, R, U, conv


def report(**kw) -> TrajectoryReport:
    base = dict(id="t1", quality="poor", quality_score=30.0, triage_score=0.8, counts={}, signals=[])
    return TrajectoryReport(**{**base, **kw})


def test_trajectory_row_matches_columns_and_carries_counts():
    r = report(counts={"execution.failure.bad_query": 2, "execution.loops.retry": 1, "interaction.stagnation.repetition": 1},
               pipeline_version="1.2.0", events=7, final=True, first_ts=1_700_000_000.5, agent_id="a")
    row = dict(zip(rows.TRAJECTORY_COLUMNS, rows.trajectory_row(r), strict=True))
    assert row["signal_types"] == ["execution.failure.bad_query", "execution.loops.retry", "interaction.stagnation.repetition"]
    assert row["category_counts"] == {"execution.failure": 2, "execution.loops": 1, "interaction.stagnation": 1}
    assert row["version"] == row_version("1.2.0", 7, True)
    assert row["final"] == 1
    assert row["first_ts"] == 1_700_000_000_500  # Unix ms, DateTime64(3)'s ticks
    assert row["last_ts"] == rows.EPOCH  # unknown time
    assert json.loads(row["record"])["id"] == "t1"


def test_signal_rows_use_event_time_and_fall_back_to_last_ts():
    r = report(signals=[Signal(type="execution.failure.bad_query", index=3, tool="search", metadata={"k": 1}),
                        Signal(type="interaction.misalignment.rephrase", index=9)], last_ts=500.0)
    out = [dict(zip(rows.SIGNAL_COLUMNS, row, strict=True)) for row in rows.signal_rows(r, {3: 100.0, 9: None})]
    assert [(s["category"], s["layer"], s["idx"]) for s in out] == [
        ("execution.failure", "execution", 3), ("interaction.misalignment", "interaction", 9)]
    assert out[0]["ts"] == 100_000
    assert out[1]["ts"] == 500_000
    assert json.loads(out[0]["metadata"]) == {"k": 1}


def test_event_rows_keep_kind_seq_and_json_payload():
    events = conv("t1", U("hi"), C("search", {"q": "x"}, call_id="c1"), R("ok", call_id="c1"), start_ts=10.0)
    out = rows.event_rows(events)
    assert [(row[1], row[2]) for row in out] == [(0, "user"), (1, "tool_call"), (2, "tool_result")]
    assert json.loads(out[1][-1])["arguments"] == {"q": "x"}
    assert rows.timestamps(events) == {"t1": {0: 10.0, 1: 11.0, 2: 12.0}}


@pytest.mark.parametrize(("older", "newer"), [
    ("1.0.0", "1.0.1"), ("1.9.0", "1.10.0"), ("v1.2", "2"), ("", "0.0.1"), ("dev", "0.1.0"), ("2024.5.1", "2024.12.0"),
])
def test_newer_pipeline_beats_older_whatever_the_event_counts(older, newer):
    assert pipeline_rank(older) < pipeline_rank(newer)
    assert row_version(older, 10_000, True) < row_version(newer, 1, False)


def test_within_a_pipeline_more_events_then_final_win_and_rank_roundtrips():
    assert row_version("1.0.0", 5, False) < row_version("1.0.0", 5, True) < row_version("1.0.0", 6, False)
    # the packing itself, at its edges: rank << 24 | events << 1 | final
    assert row_version("1.2.3", 5, True) == ((1 << 24 | 2 << 12 | 3) << 24) | 5 << 1 | 1
    assert row_version("", 0, False) == 0 and row_version("1.0.0", -3, False) == 1 << 48
    assert row_version("0.0.1", MAX_EVENTS, False) == 1 << 24 | MAX_EVENTS << 1
    assert row_version("0.0.1", MAX_EVENTS + 10, True) == row_version("0.0.1", MAX_EVENTS, True)  # clamped
    assert row_version("0.0.1", MAX_EVENTS, True) < row_version("0.0.2", 0, False)  # never spills into the rank
    assert pipeline_rank("v70000.5000.1") == (2**16 - 1) << 24 | (2**12 - 1) << 12 | 1  # clamped parts
    assert rank_of(row_version("3.1.4", 99, True)) == pipeline_rank("3.1.4")


def test_row_version_limits_by_literal_value():
    # literals, not the module's constants: a changed cap must show here (issue 17, mutation survivors)
    assert MAX_EVENTS == 8_388_607
    assert row_version("0.0.0", 8_388_608, False) == 8_388_607 << 1
    assert row_version("0.0.0", 8_388_606, True) == 8_388_606 << 1 | 1
    assert pipeline_rank("2") == 2 << 24 and pipeline_rank("2.7") == 2 << 24 | 7 << 12  # missing parts are 0
    assert pipeline_rank("1.4096.4096") == 1 << 24 | 4095 << 12 | 4095  # minor and patch clamp at 4095
    assert pipeline_rank("1.4095.4095") == 1 << 24 | 4095 << 12 | 4095
    assert pipeline_rank("65535.0.0") == 65535 << 24 and pipeline_rank("65536.0.0") == 65535 << 24
    assert pipeline_rank("0.0.0") == 0 and pipeline_rank("dev") == 0
