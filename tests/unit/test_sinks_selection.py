"""Selections become fixed SQL fragments with bound parameters; user values never enter SQL text."""

from __future__ import annotations

import pytest

from sinks.sampling import ordered_query, top_by_group_query
from sinks.selection import Selection, epoch_ms, selection_from, where

HOSTILE = ["'; DROP TABLE trajectories; --", "a\\'b", '"x"', "ünï'cødé 🚀", "{evil:String}"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_only_in_parameters(value):
    s = Selection(agent=value, tenant=value, quality=value, signal=value, pipeline_version=value)
    baseline_sql, _ = ordered_query(Selection(agent="a", tenant="b", quality="c", signal="d", pipeline_version="e"), "db")
    sql, params = ordered_query(s, "db")
    assert sql == baseline_sql
    assert value not in sql
    assert params["agent"] == value and params["pipeline_version"] == value


def test_category_filter_uses_category_counts_and_type_uses_signal_types():
    assert "mapContains(category_counts" in where(Selection(signal="execution.failure"))[0]
    assert "has(signal_types" in where(Selection(signal="execution.failure.bad_query"))[0]
    assert where(Selection()) == ("WHERE 1", {})


def test_pipeline_version_reads_versions_table():
    assert "trajectory_versions FINAL" in ordered_query(Selection(pipeline_version="1.0.0"), "db")[0]
    assert "trajectories FINAL" in top_by_group_query(Selection(), "db", "type", 5)[0]


def test_times_parse_iso_with_zone_and_naive_as_utc():
    assert epoch_ms("1970-01-01T00:00:01Z") == 1000
    assert epoch_ms("1970-01-01T02:00:01+02:00") == 1000
    assert epoch_ms("1970-01-01") == 0
    with pytest.raises(ValueError, match="ISO 8601"):
        where(Selection(since="yesterday"))


@pytest.mark.parametrize("params", [{"n": 0}, {"since": "yesterday"}, {"strategy": "best"}, {"seed": -1}, {"bogus": 1}, {"n": "5"}])
def test_bad_params_rejected(params):
    with pytest.raises(ValueError):
        selection_from(params)
