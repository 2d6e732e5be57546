"""Sampling strategies on the real chDB engine: deterministic, nested, distinct, covering, injection-safe."""

from __future__ import annotations

import random

import msgspec
import pytest

from detectors.model import CATEGORIES, SIGNAL_TYPES, category_of
from sinks import sampling
from sinks.migrate import migrate
from sinks.sampling import ORDERS, sample
from sinks.selection import SORT_KEYS, Selection
from sinks.service import execute
from sinks.writer import Writer
from tests.support.chdb import count, make_report

pytestmark = pytest.mark.integration
STRATEGIES = ("signals", "heuristic", "random", "stratified", "diverse")
HOSTILE = ["'; DROP TABLE trajectories; --", "it's", 'a"b', "back\\slash", "ünïcødé ✓", "\\'; SELECT 1 --"]


@pytest.fixture(scope="module")
def loaded(ch):
    client, db = ch
    rng = random.Random(3)
    reports = []
    for i in range(300):
        types = rng.sample(SIGNAL_TYPES, rng.choice((0, 1, 1, 2, 3)))
        reports.append(make_report(f"s-{i:03d}", {t: rng.randint(1, 3) for t in types}, triage=round(rng.random(), 3),
                                   agent=f"agent-{i % 3}", quality=rng.choice(("good", "poor")),
                                   events=rng.randint(2, 50), tool_errors=rng.randint(0, 4),
                                   first_ts=1_735_689_600.0 + i * 3600))
    sink = Writer(lambda: client, db, max_rows=100)
    sink.write_reports(reports)
    sink.flush()
    return client, db, reports


def run(loaded, **params):
    client, db, _ = loaded
    return execute(client, "sample", {"database": db, **params})


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_deterministic_distinct_and_sized(loaded, strategy):
    first = run(loaded, strategy=strategy, n=20, seed=7)
    assert first == run(loaded, strategy=strategy, n=20, seed=7)
    ids = [row["id"] for row in first]
    assert len(ids) == len(set(ids)) == 20
    assert all(row["reason"] for row in first)


def test_random_is_nested_and_seed_dependent(loaded):
    small = [r["id"] for r in run(loaded, strategy="random", n=5, seed=7)]
    large = [r["id"] for r in run(loaded, strategy="random", n=10, seed=7)]
    assert large[:5] == small
    assert [r["id"] for r in run(loaded, strategy="random", n=10, seed=8)] != large
    assert run(loaded, strategy="random", n=1, seed=7)[0]["reason"] == "random by seed 7"


def test_signals_strategy_orders_by_triage(loaded):
    _, _, reports = loaded
    rows = run(loaded, strategy="signals", n=10)
    best = sorted((r.triage_score for r in reports), reverse=True)[:10]
    assert [row["triage_score"] for row in rows] == pytest.approx(best, abs=1e-3)
    assert rows[0]["reason"].startswith(f"top triage {best[0]:.2f}")


def test_heuristic_prefers_tool_errors_then_length(loaded):
    rows = run(loaded, strategy="heuristic", n=5)
    assert all(row["reason"].startswith("heuristic: 4 tool errors") for row in rows)


def test_stratified_covers_every_category(loaded):
    rows = run(loaded, strategy="stratified", n=14)
    strata = {row["reason"].removeprefix("stratum ") for row in rows}
    assert strata == set(CATEGORIES)
    for row in rows:
        stratum = row["reason"].removeprefix("stratum ")
        assert stratum in {category_of(t) for t in row["signal_types"]}


def test_diverse_covers_all_signal_types_present(loaded):
    _, _, reports = loaded
    present = {t for r in reports for t in r.counts}
    rows = run(loaded, strategy="diverse", n=25)
    assert {t for row in rows for t in row["signal_types"]} == present
    assert rows[0]["reason"].startswith("covers ")


def test_filters_narrow_the_pool(loaded):
    rows = run(loaded, strategy="random", n=300, agent="agent-1", quality="poor", signal="execution.failure",
               since="2025-01-03T00:00:00Z", until="2025-01-10")
    _, _, reports = loaded
    expected = {r.id for r in reports if r.agent_id == "agent-1" and r.quality == "poor"
                and any(category_of(t) == "execution.failure" for t in r.counts)
                and 1_735_862_400 <= r.first_ts < 1_736_467_200}
    assert {row["id"] for row in rows} == expected and expected


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("strategy", ("signals", "stratified", "diverse"))
def test_hostile_filter_values_return_empty_and_harm_nothing(loaded, value, strategy):
    client, db, reports = loaded
    for field in ("agent", "tenant", "quality", "signal", "pipeline_version"):
        assert run(loaded, strategy=strategy, n=5, **{field: value}) == []
    assert count(client, f"SELECT count() FROM {db}.trajectories FINAL") >= len(reports)


@pytest.fixture(scope="module")
def superseded(ch):
    """40 trajectories of agent "nf"; every other one also has an older, non-final version (a lower
    version) that would rank first by tool errors and carries another score and quality, written
    before and after the newest rows, in small batches (many parts)."""
    client, _ = ch
    db = f"{ch[1]}_nf"
    migrate(client, db)
    for table in ("trajectories", "trajectory_versions"):  # the older rows stay until the queries ran
        client.command(f"SYSTEM STOP MERGES {db}.{table}")
    newest = [make_report(f"nf-{i:02d}", events=20, tool_errors=i % 3, agent="nf", triage=0.5,
                          quality=("good", "poor")[i % 2]) for i in range(40)]
    older = [make_report(f"nf-{i:02d}", events=5, final=False, tool_errors=9, agent="nf", triage=0.9, quality="poor")
             for i in range(0, 40, 2)]
    sink = Writer(lambda: client, db, max_rows=7)
    for batch in (older[:10], newest, older[10:]):
        sink.write_reports(batch)
    sink.flush()
    yield client, db
    client.command(f"DROP DATABASE IF EXISTS {db}")


@pytest.mark.parametrize("strategy", ["random", "heuristic"])
@pytest.mark.parametrize(("pipeline_version", "quality"), [("", ""), ("1.0.0", ""), ("", "poor")])
def test_unscored_strategies_read_without_final_what_final_gives(superseded, strategy, pipeline_version, quality):
    client, db = superseded
    selection = Selection(strategy=strategy, n=15, seed=5, agent="nf", pipeline_version=pipeline_version,
                          quality=quality)
    table = "trajectory_versions" if pipeline_version else "trajectories"
    final_sql = (f"SELECT trajectory_id, triage_score, quality FROM {db}.{table} FINAL WHERE agent_id = 'nf' "
                 f"{'AND quality = {quality:String}' if quality else ''} "
                 f"ORDER BY {ORDERS[strategy]} LIMIT 15")
    expected = client.query(final_sql, parameters={"seed": 5, "quality": quality}).result_rows
    rows = sample(client, selection, db)
    assert len(expected) == 15 and all(score == pytest.approx(0.5) for _, score, _ in expected)
    assert [(r["id"], r["triage_score"], r["quality"]) for r in rows] == [(i, round(s, 4), q) for i, s, q in expected]
    assert count(client, f"SELECT count() FROM {db}.{table} WHERE agent_id = 'nf'") == 60  # the older rows are there


def test_sort_keys_are_the_tables_sorting_keys(ch):
    # reading without FINAL looks rows up by the key FINAL collapses on: it must be the schema's
    client, db = ch
    stored = dict(client.query("SELECT name, sorting_key FROM system.tables WHERE database = {db:String}",
                               parameters={"db": db}).result_rows)
    assert {table: f"({stored[table]})" for table in SORT_KEYS} == SORT_KEYS


def _keyed(report, task: str, action: str):
    return msgspec.structs.replace(report, task_key=task, action_sig=action, context_key="ctx")


@pytest.fixture(scope="module")
def mixed(ch):
    """Agent "mx": 24 trajectories in tasks of three (cohort keys), 24 without keys; older,
    non-final versions (lower versions) that would outrank them: of unkeyed ones with the top score,
    of keyed ones without their key, and keyed versions of unkeyed ones. Merges stopped."""
    client, _ = ch
    db = f"{ch[1]}_mx"
    migrate(client, db)
    for table in ("trajectories", "trajectory_versions"):
        client.command(f"SYSTEM STOP MERGES {db}.{table}")
    rng = random.Random(11)

    def report(i: int, **kw):
        types = rng.sample(SIGNAL_TYPES, rng.choice((1, 2, 3)))
        return make_report(f"mx-{i:02d}", {t: 1 for t in types}, agent="mx", triage=round(rng.random(), 3), **kw)

    newest = [_keyed(report(i, events=20), f"task-{i // 3}", f"act-{i % 2}") if i < 24 else report(i, events=20)
              for i in range(48)]
    older = [report(i, events=5, final=False) for i in range(0, 48, 3)]
    older = [_keyed(r, "task-x", "act-0") if i % 2 else msgspec.structs.replace(r, triage_score=0.999)
             for i, r in enumerate(older)]
    sink = Writer(lambda: client, db, max_rows=9)
    for batch in (older[:8], newest, older[8:]):
        sink.write_reports(batch)
    sink.flush()
    yield client, db
    client.command(f"DROP DATABASE IF EXISTS {db}")


def _reference_heaps(client, db, selection, group):
    """The strata of the single query over every newest row (FINAL), the cohort windows over them all."""
    table = "trajectory_versions" if selection.pipeline_version else "trajectories"
    source, params = sampling.scored_source(selection, db, sampling.cohort_weights(), rows=f"{db}.{table} FINAL")
    sql = (f"SELECT grp, groupArraySorted({selection.n})((-score, xxHash64(trajectory_id, {{seed:UInt64}}), "
           f"trajectory_id)) FROM (SELECT trajectory_id, score, {sampling.GROUPS[group]} AS groups FROM {source}) "
           "ARRAY JOIN groups AS grp GROUP BY grp ORDER BY grp")
    return [(name, list(top)) for name, top in client.query(sql, parameters={**params, "seed": selection.seed}).result_rows]


@pytest.mark.parametrize("pipeline_version", ["", "1.0.0"])
def test_scored_strategies_equal_the_single_final_query(mixed, pipeline_version):
    client, db = mixed
    table = "trajectory_versions" if pipeline_version else "trajectories"
    assert count(client, f"SELECT count() FROM {db}.{table}") == 64  # the older rows are there
    signals = Selection(strategy="signals", n=12, seed=3, agent="mx", pipeline_version=pipeline_version)
    source, params = sampling.scored_source(signals, db, sampling.cohort_weights(), rows=f"{db}.{table} FINAL")
    expected = client.query(f"SELECT trajectory_id, score, peers FROM {source} ORDER BY score DESC, "
                            "xxHash64(trajectory_id, {seed:UInt64}) LIMIT 12", parameters={**params, "seed": 3}).result_rows
    got = sample(client, signals, db)
    assert [(r["id"], r["triage_score"], r["cohort"]["peers"]) for r in got] == [
        (tid, round(score, 4), peers) for tid, score, peers in expected]
    assert any(peers for *_, peers in expected) and not all(peers for *_, peers in expected)
    for strategy, group in (("stratified", "category"), ("diverse", "type")):
        selection = Selection(strategy=strategy, n=5, seed=3, agent="mx", pipeline_version=pipeline_version)
        assert sampling._candidates(client, selection, db, group, None)[0] == _reference_heaps(client, db, selection, group)


@pytest.fixture(scope="module")
def tied(ch):
    """Agent "tie": 120 trajectories of pipeline 2.0.0 with few distinct scores, tool errors and event
    counts (many ties at every threshold) in four types of two categories; an older version (pipeline
    1.0.0, non-final) of every third that would rank first everywhere and has other types, written
    before and after the newest rows; no cohort keys; merges stopped. Large enough groups that the
    rank thresholds of step 1 narrow the rows read."""
    client, _ = ch
    db = f"{ch[1]}_tie"
    migrate(client, db)
    for table in ("trajectories", "trajectory_versions"):
        client.command(f"SYSTEM STOP MERGES {db}.{table}")
    types = SIGNAL_TYPES[:4]  # interaction.misalignment x3, interaction.stagnation
    rng = random.Random(5)
    newest = [make_report(f"tie-{i:03d}", {t: 1 for t in rng.sample(types, rng.choice((1, 2)))}, agent="tie",
                          version="2.0.0", triage=rng.choice((0.3, 0.6, 0.9)), tool_errors=rng.choice((0, 1, 2)),
                          events=rng.choice((10, 20)), quality=rng.choice(("good", "poor"))) for i in range(120)]
    newest += [make_report(f"tie-r{i}", {types[0]: 1, SIGNAL_TYPES[8]: 1}, agent="tie", version="2.0.0", triage=0.1,
                           quality="poor") for i in range(3)]  # a small group (satisfaction), below every threshold
    older = [make_report(f"tie-{i:03d}", {t: 1 for t in SIGNAL_TYPES[3:6]}, agent="tie", version="1.0.0",
                         final=False, triage=0.95, tool_errors=9, events=50, quality="poor") for i in range(0, 120, 3)]
    sink = Writer(lambda: client, db, max_rows=11)
    for batch in (older[:20], newest, older[20:]):
        sink.write_reports(batch)
    sink.flush()
    yield client, db
    client.command(f"DROP DATABASE IF EXISTS {db}")


@pytest.mark.parametrize(("pipeline_version", "quality"), [("", ""), ("", "poor"), ("2.0.0", ""), ("1.0.0", "")])
def test_narrowed_reads_equal_final_with_ties_superseded_rows_and_a_newer_pipeline(tied, pipeline_version, quality):
    client, db = tied
    types = SIGNAL_TYPES[:4]
    table = "trajectory_versions" if pipeline_version else "trajectories"
    filters = "agent_id = 'tie'" + (" AND quality = {quality:String}" if quality else "") + (
        " AND pipeline_version = {pv:String}" if pipeline_version else "")
    assert count(client, f"SELECT count() FROM {db}.{table} WHERE agent_id = 'tie'") == 163  # superseded rows there
    for seed in (1, 2):
        for strategy in ("signals", "heuristic", "random"):
            selection = Selection(strategy=strategy, n=12, seed=seed, agent="tie", quality=quality,
                                  pipeline_version=pipeline_version)
            order = ORDERS[strategy].replace("score", "triage_score")
            expected = client.query(f"SELECT trajectory_id, triage_score, quality FROM {db}.{table} FINAL WHERE {filters} "
                                    f"ORDER BY {order} LIMIT 12",
                                    parameters={"seed": seed, "quality": quality, "pv": pipeline_version}).result_rows
            got = sample(client, selection, db)
            assert len(expected) == 12 and expected
            assert [(r["id"], r["triage_score"], r["quality"]) for r in got] == [
                (i, round(s, 4), q) for i, s, q in expected], (strategy, seed)
        for strategy, group in (("stratified", "category"), ("diverse", "type")):
            selection = Selection(strategy=strategy, n=8, seed=seed, agent="tie", quality=quality,
                                  pipeline_version=pipeline_version)
            reference = _reference_heaps(client, db, selection, group)
            names = {name for name, _ in reference}
            if pipeline_version != "1.0.0":  # the groups of the older rows are not among the newest ones'
                assert names <= {category_of(t) for t in (*types, SIGNAL_TYPES[8])} | {*types, SIGNAL_TYPES[8]}
                assert {SIGNAL_TYPES[8], "interaction.satisfaction"} & names  # the small group is there
            assert sampling._candidates(client, selection, db, group, None)[0] == reference, (strategy, seed)


def test_rank_thresholds_narrow_step_one(tied):
    # the narrowed query: the rows at or above the 2n-th rank, and every row of a group that small
    client, db = tied
    selection = Selection(strategy="signals", n=4, seed=1, agent="tie")
    sql, params = sampling.threshold_query(selection, db, 8)
    bound = tuple(client.query(sql, parameters=params).result_rows[0])
    assert bound == (pytest.approx(0.95),)  # the older rows rank first
    sql, params = sampling.narrowed_query(selection, db, None, 8, bound, [])
    assert "triage_score >= {rank_0:Float32}" in sql
    stored = sampling.stored_rows(client, selection, db, None, 8)[""]
    full_sql, full_params = sampling.stored_query(selection, db, None, 8)
    assert stored == [tuple(row) for row in client.query(full_sql, parameters=full_params).result_rows]
    stratified = Selection(strategy="stratified", n=4, seed=1, agent="tie")
    narrowed = sampling.stored_rows(client, stratified, db, sampling.GROUPS["category"], 8)
    sql, params = sampling.stored_query(stratified, db, sampling.GROUPS["category"], 8)
    assert narrowed == {group: [(e[-2], e[-1]) for e in entries]
                        for group, entries in client.query(sql, parameters=params).result_rows}
    assert "interaction.satisfaction" in narrowed  # the small group, read whole
