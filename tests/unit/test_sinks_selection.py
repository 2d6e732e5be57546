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


# ---- the Python of sampling, by value (issue 17: mutation survivors; the SQL runs in tests/integration)
from sinks import sampling  # noqa: E402


def test_round_robin_takes_each_stratum_in_turn_skipping_chosen_ids():
    strata = [("a", [(-0.9, 1, "t1"), (-0.8, 2, "t2"), (-0.1, 3, "t5")]),
              ("b", [(-0.9, 1, "t1"), (-0.7, 4, "t3")]),
              ("c", [])]
    assert sampling.round_robin(strata, 10) == {"t1": "stratum a", "t3": "stratum b", "t2": "stratum a",
                                                "t5": "stratum a"}
    assert list(sampling.round_robin(strata, 10)) == ["t1", "t3", "t2", "t5"]
    assert sampling.round_robin(strata, 2) == {"t1": "stratum a", "t3": "stratum b"}
    assert sampling.round_robin(strata, 1) == {"t1": "stratum a"}
    assert sampling.round_robin(strata, 0) == {} and sampling.round_robin([], 3) == {}


def test_set_cover_greedy_by_new_types_then_triage_then_fill():
    candidates = [(-0.9, 5, "a"), (-0.5, 1, "b"), (-0.4, 2, "c"), (-0.3, 3, "d")]
    types = {"a": {"x"}, "b": {"x", "y", "z"}, "c": {"w", "x"}, "d": {"x"}}
    assert sampling.set_cover(candidates, types, 10) == {
        "b": "covers x, y, z", "c": "covers w", "a": "fill by triage 0.90", "d": "fill by triage 0.30"}
    assert list(sampling.set_cover(candidates, types, 10)) == ["b", "c", "a", "d"]
    assert sampling.set_cover(candidates, types, 1) == {"b": "covers x, y, z"}
    # ties on new types: better triage first, then the seeded hash (lower first)
    assert list(sampling.set_cover([(-0.5, 2, "p"), (-0.5, 1, "q"), (-0.6, 0, "r")], {}, 3)) == ["r", "q", "p"]
    assert sampling.set_cover([], types, 3) == {}


def test_cohort_note_top_categories_and_reasons_by_value():
    values = {"peers": 5, "agreeing": 2, "basis": "task", "score": 0.876, "category_counts": {"b": 2, "a": 2, "c": 3}}
    assert sampling.cohort_note(values) == "3/5 peers (task) ended differently"
    assert sampling.cohort_note({"peers": 0, "agreeing": 0, "basis": "task"}) == "no peers"
    assert sampling.top_categories({"b": 2, "a": 2, "c": 3}) == "c x3, a x2"
    assert sampling.top_categories({"b": 2, "a": 2, "c": 3}, limit=3) == "c x3, a x2, b x2"
    assert sampling.top_categories({}) == "no signals"
    assert sampling._reason("signals", 7, values) == "top triage 0.88: 3/5 peers (task) ended differently; c x3, a x2"
    assert sampling._reason("heuristic", 7, {"tool_errors": 3, "events": 40}) == "heuristic: 3 tool errors, 40 events"
    assert sampling._reason("random", 7, {}) == "random by seed 7"


BASE = {"trajectory_id": "t1", "pipeline_version": "1.0.0", "triage_score": 0.123456, "quality": "poor",
        "signal_types": ("x", "y")}


def test_row_by_value_with_and_without_the_combined_score():
    assert sampling._row(dict(BASE), "why") == {"id": "t1", "pipeline_version": "1.0.0", "triage_score": 0.1235,
                                                "quality": "poor", "signal_types": ["x", "y"], "reason": "why"}
    combined = {**BASE, "score": 0.654321, "basis": "request", "peers": 4.0, "agreeing": 1.0}
    assert sampling._row(combined, "r") == {
        "id": "t1", "pipeline_version": "1.0.0", "triage_score": 0.6543, "quality": "poor",
        "signal_types": ["x", "y"], "reason": "r", "trajectory_score": 0.1235,
        "cohort": {"basis": "request", "peers": 4, "agreeing": 1}}


class FakeResult:
    def __init__(self, rows):
        self.rows = rows

    def named_results(self):
        return iter(self.rows)

    @property
    def result_rows(self):
        return self.rows


class FakeClient:
    """Answers the sampling queries: candidates per group (result_rows) and details (named_results)."""

    def __init__(self, groups, details):
        self.groups, self.details, self.queries = groups, details, []

    def query(self, sql, parameters):
        self.queries.append((sql, parameters))
        if sql.startswith("SELECT count() FROM (SELECT 1 FROM"):  # any keyed row: yes
            return FakeResult([(1,)])
        if "AS row_key" in sql:  # the newest row under each key: every stored row is the newest
            return FakeResult([{**self.details[tid], "row_key": (tid,), "version": 1} for tid in parameters["ids"]])
        if "{limit:UInt32}" in sql:  # the stored rows in order: the scored strategies' rows are all keyed here
            return FakeResult([] if "task_key = ''" in sql else [(tid, 1) for tid in self.details])
        if "trajectory_id IN" in sql:
            return FakeResult([self.details[i] for i in parameters["ids"] if i in self.details])
        if "GROUP BY" in sql or "groupArray" in sql:
            return FakeResult(self.groups)
        return FakeResult(list(self.details.values()))


def _detail(tid, score, types):
    return {**BASE, "trajectory_id": tid, "triage_score": score, "signal_types": types}


def test_samplers_with_a_fake_client_return_rows_in_pick_order():
    details = {"t1": _detail("t1", 0.9, ("x",)), "t2": _detail("t2", 0.8, ("x", "y")), "t3": _detail("t3", 0.2, ())}
    groups = [("a", [(-0.9, 1, "t1"), (-0.8, 2, "t2")]), ("b", [(-0.8, 2, "t2"), (-0.2, 3, "t3")])]
    rows = sampling.sample(FakeClient(groups, details), Selection(strategy="stratified", n=3), "db")
    assert [(r["id"], r["reason"], r["triage_score"]) for r in rows] == [
        ("t1", "stratum a", 0.9), ("t2", "stratum b", 0.8), ("t3", "stratum b", 0.2)]
    rows = sampling.sample(FakeClient(groups, details), Selection(strategy="diverse", n=3), "db")
    assert [(r["id"], r["reason"]) for r in rows] == [("t2", "covers x, y"), ("t1", "fill by triage 0.90"),
                                                      ("t3", "fill by triage 0.20")]
    rows = sampling.sample(FakeClient([], details), Selection(strategy="random", n=3, seed=4), "db")
    assert [(r["id"], r["reason"]) for r in rows] == [("t1", "random by seed 4"), ("t2", "random by seed 4"),
                                                      ("t3", "random by seed 4")]
    assert sampling.sample(FakeClient([], {}), Selection(strategy="stratified", n=3), "db") == []
