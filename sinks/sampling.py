"""Sampling strategies over the deduplicated trajectories table (see docs/sampling.md).

Every strategy is deterministic for a seed: ties (and `random`) are ordered by
``xxHash64(trajectory_id, seed)``. Output rows: id, pipeline_version, triage_score, quality,
signal_types, reason; the strategies ranked by triage (signals, stratified, diverse) use the combined
score (cohort evidence computed over the selection, ``scored_source``) and add its parts:
``trajectory_score`` (the stored record's) and ``cohort`` (basis, peers, agreeing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec

from detectors.triage import packaged_config
from sinks.selection import SORT_KEY_TYPES, SORT_KEYS, Selection, source_table, stored_table, where

COLUMNS: Final = ("trajectory_id", "pipeline_version", "triage_score", "quality", "signal_types",
                  "category_counts", "tool_errors", "events")
COHORT_COLUMNS: Final = ("score", "peers", "agreeing", "basis")
HASH: Final = "xxHash64(trajectory_id, {seed:UInt64})"
ORDERS: Final = {
    "signals": f"score DESC, {HASH}",
    "heuristic": f"tool_errors DESC, events DESC, {HASH}",
    "random": HASH,
}
SCORED: Final = frozenset({"signals", "stratified", "diverse"})  # strategies ranked by the combined score
Row = dict[str, Any]


class CohortWeights(msgspec.Struct, frozen=True, kw_only=True):
    """The cohort stages of detectors/triage.py's TriageConfig, as query parameters."""

    task_bias: float
    task_scale: float
    task_disagreement: float
    task_outlying: float
    request_bias: float
    request_scale: float
    request_disagreement: float
    request_outlying: float
    cohort_prior: float


def cohort_weights(config: Any = None) -> CohortWeights:
    config = config or packaged_config()
    stages = {f"{basis}_{field}": getattr(getattr(config, f"{basis}_stage"), field)
              for basis in ("task", "request") for field in ("bias", "scale", "disagreement", "outlying")}
    return CohortWeights(**stages, cohort_prior=config.cohort_prior)


def scored_source(selection: Selection, database: str, weights: CohortWeights) -> tuple[str, dict[str, Any]]:
    """The selected trajectories with their cohort evidence and combined score (detectors/cohort.py).

    Peers are the other selected rows with the same task key (when there are any), else the same
    request key, within one agent and configuration; ``agreeing`` peers ended with the same
    ``action_sig``. Without peers the score is the stored trajectory score. Window counts over the
    selection: the cost is one sort of the selected rows.
    """
    clause, params = where(selection)
    t = "least(greatest(toFloat64(triage_score), 1e-6), 1 - 1e-6)"
    inner = (
        "SELECT *, "
        "count() OVER (PARTITION BY agent_id, context_key, task_key) AS task_n, "
        "count() OVER (PARTITION BY agent_id, context_key, task_key, action_sig) AS task_same, "
        "count() OVER (PARTITION BY agent_id, context_key, request_key) AS request_n, "
        "count() OVER (PARTITION BY agent_id, context_key, request_key, action_sig) AS request_same "
        f"FROM {source_table(selection, database)} {clause}"
    )
    task, request = "agent_id, context_key, task_key", "agent_id, context_key, request_key"
    # Agreeing ordered pairs per cohort: the sum over its members of their agreeing peers, written
    # sum(same) - n and not sum(same - 1): ClickHouse 26.3 rewrites the latter into an aggregate and
    # drops the window (optimize_arithmetic_operations_in_aggregate_functions; NOT_FOUND_COLUMN_IN_BLOCK).
    pairs = (
        f"SELECT *, sum(task_same) OVER (PARTITION BY {task}) - task_n AS task_pairs, "
        f"sum(request_same) OVER (PARTITION BY {request}) - request_n AS request_pairs FROM ({inner})"
    )
    cohort = (
        "SELECT *, multiIf(task_key != '' AND task_n >= 2, 'task', request_key != '' AND request_n >= 2, "
        "'request', '') AS basis, "
        "multiIf(basis = 'task', task_n - 1, basis = 'request', request_n - 1, 0) AS peers, "
        "multiIf(basis = 'task', task_same - 1, basis = 'request', request_same - 1, 0) AS agreeing, "
        "multiIf(basis = 'task', task_pairs, basis = 'request', request_pairs, 0) AS pairs_agreeing "
        f"FROM ({pairs})"
    )
    disagreement = "(1 - agreeing / peers)"
    outlying = "(pairs_agreeing / ((peers + 1) * peers) - agreeing / peers)"
    def stage(field: str) -> str:  # the task stage's parameter for task peers, else the request stage's
        return f"if(basis = 'task', {{task_{field}:Float64}}, {{request_{field}:Float64}})"

    combined = (
        f"if(peers = 0, toFloat64(triage_score), round(1 / (1 + exp(-({stage('bias')} "
        f"+ {stage('scale')} * log({t} / (1 - {t})) + ({stage('disagreement')} * {disagreement} "
        f"+ {stage('outlying')} * {outlying}) * peers / (peers + {{cohort_prior:Float64}})))), 4))"
    )
    sql = f"(SELECT *, {combined} AS score FROM ({cohort}))"
    return sql, {**params, **msgspec.structs.asdict(weights)}


def ordered_query(selection: Selection, database: str,
                  weights: CohortWeights | None = None) -> tuple[str, dict[str, Any]]:
    if selection.strategy in SCORED:
        source, params = scored_source(selection, database, weights or cohort_weights())
        columns = [*COLUMNS, *COHORT_COLUMNS]
        sql = f"SELECT {', '.join(columns)} FROM {source} ORDER BY {ORDERS[selection.strategy]} LIMIT {{n:UInt32}}"
    else:
        clause, params = where(selection)
        sql = (f"SELECT {', '.join(COLUMNS)} FROM {source_table(selection, database)} {clause} "
               f"ORDER BY {ORDERS[selection.strategy]} LIMIT {{n:UInt32}}")
    return sql, {**params, "seed": selection.seed, "n": selection.n}


def top_by_group_query(selection: Selection, database: str, group: str, per_group: int,
                       weights: CohortWeights | None = None) -> tuple[str, dict[str, Any]]:
    """Top ``per_group`` trajectories by the combined score per signal type/category in one GROUP BY.

    ``groupArraySorted`` keeps a bounded heap per group instead of sorting every (row, group) pair
    as ``LIMIT k BY`` does.
    """
    source, params = scored_source(selection, database, weights or cohort_weights())
    keys = "signal_types" if group == "type" else "mapKeys(category_counts)"
    sql = (
        "SELECT grp, groupArraySorted({k:UInt32})((-score, h, trajectory_id)) AS top "
        f"FROM (SELECT trajectory_id, score, {HASH} AS h, {keys} AS groups "
        f"FROM {source}) ARRAY JOIN groups AS grp GROUP BY grp ORDER BY grp"
    )
    return sql, {**params, "seed": selection.seed, "k": per_group}


def details(client: Any, selection: Selection, database: str, ids: list[str],
            weights: CohortWeights | None = None) -> dict[str, dict[str, Any]]:
    """Output columns of the given trajectories (small tuples in the heaps above keep them fast)."""
    source, params = scored_source(selection, database, weights or cohort_weights())
    sql = (f"SELECT trajectory_id, pipeline_version, triage_score, quality, signal_types, "
           f"{', '.join(COHORT_COLUMNS)} FROM {source} WHERE trajectory_id IN {{ids:Array(String)}}")
    rows = client.query(sql, parameters={**params, "ids": ids}).named_results()
    return {row["trajectory_id"]: row for row in rows}


def _row(values: dict[str, Any], reason: str) -> Row:
    row = {"id": values["trajectory_id"], "pipeline_version": values["pipeline_version"],
           "triage_score": round(float(values.get("score", values["triage_score"])), 4),
           "quality": values["quality"], "signal_types": list(values["signal_types"]), "reason": reason}
    if "score" in values:  # the combined score, with its parts
        row["trajectory_score"] = round(float(values["triage_score"]), 4)
        row["cohort"] = {"basis": values["basis"], "peers": int(values["peers"]),
                         "agreeing": int(values["agreeing"])}
    return row


def cohort_note(values: dict[str, Any]) -> str:
    peers = int(values["peers"])
    if not peers:
        return "no peers"
    return f"{peers - int(values['agreeing'])}/{peers} peers ({values['basis']}) ended differently"


def top_categories(category_counts: dict[str, int], limit: int = 2) -> str:
    ranked = sorted(category_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return ", ".join(f"{name} x{n}" for name, n in ranked) or "no signals"


def _reason(strategy: str, seed: int, values: dict[str, Any]) -> str:
    if strategy == "signals":
        return (f"top triage {values['score']:.2f}: {cohort_note(values)}; "
                f"{top_categories(values['category_counts'])}")
    if strategy == "heuristic":
        return f"heuristic: {values['tool_errors']} tool errors, {values['events']} events"
    return f"random by seed {seed}"


def stored_order_query(selection: Selection, database: str, limit: int) -> tuple[str, dict[str, Any]]:
    """The first ``limit`` stored rows in the order of an unscored strategy (random, heuristic),
    without FINAL: superseded versions included, each row with its sort key and version."""
    table = stored_table(selection)
    clause, params = where(selection)
    sql = (f"SELECT {', '.join(COLUMNS)}, {SORT_KEYS[table]} AS row_key, version FROM {database}.{table} {clause} "
           f"ORDER BY {ORDERS[selection.strategy]} LIMIT {{limit:UInt32}}")
    return sql, {**params, "seed": selection.seed, "limit": limit}


def newest_versions(client: Any, selection: Selection, database: str, keys: list[Any]) -> dict[Any, int]:
    """Sort key -> the highest version stored under it (the row FINAL keeps), read by key."""
    table = stored_table(selection)
    sql = (f"SELECT {SORT_KEYS[table]} AS row_key, max(version) FROM {database}.{table} "
           f"WHERE {SORT_KEYS[table]} IN {{keys:Array({SORT_KEY_TYPES[table]})}} GROUP BY row_key")
    return {tuple(key): version for key, version in client.query(sql, parameters={"keys": keys}).result_rows}


def newest_first(client: Any, selection: Selection, database: str) -> list[dict[str, Any]]:
    """The first ``n`` rows FINAL would give, without FINAL: the stored rows in order (2n, then 4x
    more while too few are newest), keeping those whose version is the newest of their key. The
    newest rows among the first k stored rows are the first newest rows (any newest row ranking
    above one of them is itself among the k), so n of them are the answer."""
    limit = 2 * selection.n
    while True:
        stored = list(client.query(*stored_order_query(selection, database, limit)).named_results())
        newest = newest_versions(client, selection, database, [row["row_key"] for row in stored]) if stored else {}
        latest = {row["trajectory_id"]: row for row in stored if newest.get(tuple(row["row_key"])) == row["version"]}
        if len(latest) >= selection.n or len(stored) < limit:
            return list(latest.values())[:selection.n]
        limit *= 4


def sample_newest(client: Any, selection: Selection, database: str, weights: CohortWeights | None = None) -> list[Row]:
    """random and heuristic: no score, so no cohort over the selection; read without FINAL."""
    return [_row(values, _reason(selection.strategy, selection.seed, values))
            for values in newest_first(client, selection, database)]


def sample_ordered(client: Any, selection: Selection, database: str, weights: CohortWeights | None = None) -> list[Row]:
    sql, params = ordered_query(selection, database, weights)
    return [_row(values, _reason(selection.strategy, selection.seed, values))
            for values in client.query(sql, parameters=params).named_results()]


def _candidates(client: Any, selection: Selection, database: str, group: str,
                weights: CohortWeights | None) -> list[tuple[str, list[tuple[Any, ...]]]]:
    sql, params = top_by_group_query(selection, database, group, selection.n, weights)
    return [(name, list(top)) for name, top in client.query(sql, parameters=params).result_rows]


def sample_stratified(client: Any, selection: Selection, database: str,
                      weights: CohortWeights | None = None) -> list[Row]:
    """Round-robin over signal categories (alphabetical), each taking its next best unseen trajectory."""
    strata = _candidates(client, selection, database, "category", weights)
    return _rows(client, selection, database, round_robin(strata, selection.n), weights)


Candidate = tuple[float, int, str]  # (-triage_score, seeded hash, trajectory id): best first when sorted


def round_robin(strata: list[tuple[str, list[Candidate]]], n: int) -> dict[str, str]:
    """Picks from each stratum in turn its next best unseen trajectory: id -> reason, in pick order."""
    chosen: dict[str, str] = {}
    cursors = [0] * len(strata)
    progress = True
    while len(chosen) < n and progress:
        progress = False
        for position, (category, top) in enumerate(strata):
            while cursors[position] < len(top) and top[cursors[position]][2] in chosen:
                cursors[position] += 1
            if cursors[position] < len(top) and len(chosen) < n:
                chosen[top[cursors[position]][2]] = f"stratum {category}"
                progress = True
    return chosen


def _rows(client: Any, selection: Selection, database: str, reasons: dict[str, str],
          weights: CohortWeights | None) -> list[Row]:
    found = details(client, selection, database, list(reasons), weights) if reasons else {}
    return [_row(found[tid], reason) for tid, reason in reasons.items() if tid in found]


def sample_diverse(client: Any, selection: Selection, database: str, weights: CohortWeights | None = None) -> list[Row]:
    """Greedy set cover of signal types over per-type top candidates, then fill by triage."""
    candidates = {c[2]: c for _, top in _candidates(client, selection, database, "type", weights) for c in top}
    found = details(client, selection, database, list(candidates), weights) if candidates else {}
    types = {tid: set(row["signal_types"]) for tid, row in found.items()}
    return _rows(client, selection, database, set_cover(list(candidates.values()), types, selection.n), weights)


def set_cover(candidates: list[Candidate], types: dict[str, set[str]], n: int) -> dict[str, str]:
    """Greedy: the candidate covering most uncovered signal types next (best triage on ties)."""
    pool = sorted(candidates)  # best triage first, seeded ties
    covered: set[str] = set()
    reasons: dict[str, str] = {}
    while pool and len(reasons) < n:
        best = max(pool, key=lambda c: (len(types.get(c[2], set()) - covered), -c[0], -c[1]))
        new = sorted(types.get(best[2], set()) - covered)
        reasons[best[2]] = f"covers {', '.join(new)}" if new else f"fill by triage {-best[0]:.2f}"
        covered.update(new)
        pool.remove(best)
    return reasons


SAMPLERS: Final[dict[str, Callable[[Any, Selection, str, CohortWeights | None], list[Row]]]] = {
    "signals": sample_ordered,
    "heuristic": sample_newest,
    "random": sample_newest,
    "stratified": sample_stratified,
    "diverse": sample_diverse,
}


def sample(client: Any, selection: Selection, database: str, weights: CohortWeights | None = None) -> list[Row]:
    """``weights``: the cohort stage of the triage config (default: the packaged one)."""
    return SAMPLERS[selection.strategy](client, selection, database, weights)
