"""Sampling strategies over the deduplicated trajectories table (see docs/sampling.md).

Every strategy is deterministic for a seed: ties (and `random`) are ordered by
``xxHash64(trajectory_id, seed)``. Output rows: id, pipeline_version, triage_score, quality,
signal_types, reason; the strategies ranked by triage (signals, stratified, diverse) use the combined
score (cohort evidence computed over the selection, ``scored_source``) and add its parts:
``trajectory_score`` (the stored record's) and ``cohort`` (basis, peers, agreeing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

import msgspec

from detectors.triage import packaged_config
from sinks.selection import SORT_KEYS, Selection, stored_table, where

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
Candidate = tuple[float, int, str]  # (-score, seeded hash, trajectory id): best first when sorted
GROUPS: Final = {"type": "signal_types", "category": "mapKeys(category_counts)"}


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


KEYED: Final = "(task_key != '' OR request_key != '')"  # rows that can have peers
UNKEYED: Final = "task_key = '' AND request_key = ''"  # no peers: their score is the trajectory score


def keyed_rows(selection: Selection, database: str) -> str:
    """The newest rows (FINAL) of the trajectories that have a cohort key in some version, read by
    sort key: FINAL merges only their granules (none when no row has a key). GLOBAL IN: on a cluster
    the keys are collected once and sent to the shards (a plain IN over the Distributed table inside
    a distributed query is refused); on one node it is IN."""
    table = f"{database}.{stored_table(selection)}"
    key = SORT_KEYS[stored_table(selection)]
    return f"(SELECT * FROM {table} FINAL WHERE {key} GLOBAL IN (SELECT {key} FROM {table} WHERE {KEYED}))"


def scored_source(selection: Selection, database: str, weights: CohortWeights,
                  rows: str | None = None) -> tuple[str, dict[str, Any]]:
    """The selected keyed trajectories with their cohort evidence and combined score (detectors/cohort.py).

    Peers are the other selected rows with the same task key (when there are any), else the same
    request key, within one agent and configuration; ``agreeing`` peers ended with the same
    ``action_sig``. Without peers the score is the stored trajectory score. Window counts over the
    selection: the cost is one sort of the selected rows. Rows without a key have no peers and
    share no window with keyed rows, so the windows run over the keyed rows only (``rows``: another
    set of newest rows, e.g. ``trajectories FINAL``, to score them all); the rows without a key are
    ranked by their trajectory score without FINAL (``newest_groups``).
    """
    clause, params = where(selection)
    clause += f" AND {KEYED}" if rows is None else ""
    t = "least(greatest(toFloat64(triage_score), 1e-6), 1 - 1e-6)"
    inner = (
        "SELECT *, "
        "count() OVER (PARTITION BY agent_id, context_key, task_key) AS task_n, "
        "count() OVER (PARTITION BY agent_id, context_key, task_key, action_sig) AS task_same, "
        "count() OVER (PARTITION BY agent_id, context_key, request_key) AS request_n, "
        "count() OVER (PARTITION BY agent_id, context_key, request_key, action_sig) AS request_same "
        f"FROM {rows or keyed_rows(selection, database)} {clause}"
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
    """The keyed rows of the ``signals`` strategy in its order, with their seeded hash ``h``."""
    source, params = scored_source(selection, database, weights or cohort_weights())
    columns = [*COLUMNS, *COHORT_COLUMNS]
    sql = (f"SELECT {', '.join(columns)}, {HASH} AS h FROM {source} "
           f"ORDER BY {ORDERS[selection.strategy]} LIMIT {{n:UInt32}}")
    return sql, {**params, "seed": selection.seed, "n": selection.n}


def top_by_group_query(selection: Selection, database: str, group: str, per_group: int,
                       weights: CohortWeights | None = None) -> tuple[str, dict[str, Any]]:
    """Top ``per_group`` keyed trajectories by the combined score per signal type/category in one GROUP BY.

    ``groupArraySorted`` keeps a bounded heap per group instead of sorting every (row, group) pair
    as ``LIMIT k BY`` does.
    """
    source, params = scored_source(selection, database, weights or cohort_weights())
    sql = (
        "SELECT grp, groupArraySorted({k:UInt32})((-score, h, trajectory_id)) AS top "
        f"FROM (SELECT trajectory_id, score, {HASH} AS h, {GROUPS[group]} AS groups "
        f"FROM {source}) ARRAY JOIN groups AS grp GROUP BY grp ORDER BY grp"
    )
    return sql, {**params, "seed": selection.seed, "k": per_group}


def details(client: Any, selection: Selection, database: str, ids: list[str],
            weights: CohortWeights | None = None) -> dict[str, dict[str, Any]]:
    """Output columns of the given keyed trajectories (small tuples in the heaps above keep them fast)."""
    source, params = scored_source(selection, database, weights or cohort_weights())
    sql = (f"SELECT trajectory_id, pipeline_version, triage_score, quality, signal_types, "
           f"{', '.join(COHORT_COLUMNS)} FROM {source} WHERE trajectory_id IN {{ids:Array(String)}}")
    rows = client.query(sql, parameters={**params, "ids": ids}).named_results()
    return {row["trajectory_id"]: row for row in rows}


# ------------------------------------------------------------------ newest rows without FINAL
# The order of each strategy as ascending expressions (the order of ORDERS); over stored rows
# without a cohort key the combined score is the trajectory score.
STORED_SCORE: Final = "toFloat64(triage_score)"
ORDER_TUPLES: Final = {
    "signals": f"-{STORED_SCORE}, {HASH}",
    "stratified": f"-{STORED_SCORE}, {HASH}",
    "diverse": f"-{STORED_SCORE}, {HASH}",
    "heuristic": f"-toInt64(tool_errors), -toInt64(events), {HASH}",
    "random": HASH,
}
# The same orders over the stored columns as they are (``triage_score DESC`` and not
# ``-toFloat64(triage_score)``: ClickHouse's top-N filtering and lazy reading apply to a plain column).
STORED_ORDERS: Final = {
    "signals": f"triage_score DESC, {HASH}",
    "heuristic": f"tool_errors DESC, events DESC, {HASH}",
    "random": HASH,
}
# The leading columns of each order, before the seeded hash, and their types as bound parameters.
# Ranking by them alone reads no trajectory id: its k-th value is a threshold every one of the first
# k rows reaches (ties included), so the hash is computed only for the rows at or above it. Not for
# heuristic: a few tool-error and event counts tie tens of thousands of rows at 10M (every granule
# is read for them anyway: measured slower than the single query).
RANKS: Final = {
    "signals": (("triage_score", "Float32"),),
    "stratified": (("triage_score", "Float32"),),
    "diverse": (("triage_score", "Float32"),),
}
Stored = tuple[str, int]  # (trajectory id, version) of a stored row
# Groups read from the table itself: the map's keys as a subcolumn (reads no values; 1.5x faster at 10M).
STORED_GROUPS: Final = {GROUPS["category"]: "category_counts.keys"}


def stored_groups(groups: str) -> str:
    return STORED_GROUPS.get(groups, groups)


def _at_least(strategy: str, name: str = "rank") -> str:
    """The rank columns at least as good as the bound ``{name_i:Type}`` (lexicographic, descending)."""
    ranks = RANKS[strategy]
    columns = ", ".join(column for column, _ in ranks)
    bounds = ", ".join(f"{{{name}_{i}:{kind}}}" for i, (_, kind) in enumerate(ranks))
    return f"({columns}) >= ({bounds})" if len(ranks) > 1 else f"{columns} >= {bounds}"


def _bounds(values: tuple[Any, ...], name: str = "rank") -> dict[str, Any]:
    return {f"{name}_{i}": value for i, value in enumerate(values)}


def stored_rows_source(selection: Selection, database: str, condition: str = "") -> tuple[str, dict[str, Any]]:
    """``table WHERE ...`` of the stored rows step 1 ranks (the scored strategies: those without a
    cohort key; the keyed ones: ``scored_source``), and ``condition``."""
    clause, params = where(selection)
    clause += f" AND {UNKEYED}" if selection.strategy in SCORED else ""
    clause += f" AND {condition}" if condition else ""
    return f"{database}.{stored_table(selection)} {clause}", params


def stored_query(selection: Selection, database: str, groups: str | None, limit: int,
                 condition: str = "") -> tuple[str, dict[str, Any]]:
    """The first ``limit`` stored rows in the strategy's order, without FINAL (superseded versions
    included), as (trajectory_id, version): one list, or per signal type/category (``groups``: one
    bounded heap each). ``condition``: the narrowing of ``narrowed_query``."""
    rows, params = stored_rows_source(selection, database, condition)
    if groups is None:
        sql = (f"SELECT trajectory_id, version FROM {rows} ORDER BY {STORED_ORDERS[selection.strategy]} "
               "LIMIT {limit:UInt32}")
    else:
        sql = (f"SELECT grp, groupArraySorted({{limit:UInt32}})(({ORDER_TUPLES[selection.strategy]}, trajectory_id, "
               f"version)) FROM (SELECT trajectory_id, version, triage_score, {stored_groups(groups)} AS groups FROM {rows}) "
               "ARRAY JOIN groups AS grp GROUP BY grp ORDER BY grp")
    return sql, {**params, "seed": selection.seed, "limit": limit}


def threshold_query(selection: Selection, database: str, limit: int) -> tuple[str, dict[str, Any]]:
    """The rank columns of the ``limit``-th stored row (no row: fewer rows than that)."""
    rows, params = stored_rows_source(selection, database)
    columns = [column for column, _ in RANKS[selection.strategy]]
    sql = (f"SELECT {', '.join(columns)} FROM {rows} ORDER BY {', '.join(f'{c} DESC' for c in columns)} "
           "LIMIT 1 OFFSET {offset:UInt32}")
    return sql, {**params, "offset": limit - 1}


def group_thresholds_query(selection: Selection, database: str, groups: str, limit: int) -> tuple[str, dict[str, Any]]:
    """Per group: its stored rows and the triage score of its ``limit``-th (reads no trajectory id)."""
    rows, params = stored_rows_source(selection, database)
    sql = (f"SELECT grp, count(), arrayElement(groupArraySorted({{limit:UInt32}})(-{STORED_SCORE}), -1) "
           f"FROM (SELECT triage_score, {stored_groups(groups)} AS groups FROM {rows}) ARRAY JOIN groups AS grp GROUP BY grp")
    return sql, {**params, "limit": limit}


def narrowed_query(selection: Selection, database: str, groups: str | None, limit: int,
                   bound: tuple[Any, ...] | None, small: list[str]) -> tuple[str, dict[str, Any]]:
    """``stored_query`` over the rows at or above ``bound`` (None: every row) and, per group, every
    row of the ``small`` groups (those with at most ``limit`` rows)."""
    if bound is None:
        return stored_query(selection, database, groups, limit)
    condition = _at_least(selection.strategy)
    if small and groups is not None:
        condition = f"({condition} OR hasAny({stored_groups(groups)}, {{small:Array(String)}}))"
    sql, params = stored_query(selection, database, groups, limit, condition)
    return sql, {**params, **_bounds(bound), "small": small}


def stored_rows(client: Any, selection: Selection, database: str, groups: str | None,
                limit: int) -> dict[str, list[Stored]]:
    """``stored_query``'s result, read in two steps when the order has rank columns: their
    ``limit``-th value per list (``threshold_query``, ``group_thresholds_query``), then the rows at
    or above it, ordered with the hash. Every row of the first ``limit`` is at or above it."""
    bound: tuple[Any, ...] | None = None
    small: list[str] = []
    if selection.strategy in RANKS and groups is None:
        sql, params = threshold_query(selection, database, limit)
        found = client.query(sql, parameters=params).result_rows
        bound = tuple(found[0]) if found else None
    elif selection.strategy in RANKS and groups is not None:
        sql, params = group_thresholds_query(selection, database, groups, limit)
        counts = client.query(sql, parameters=params).result_rows
        small = sorted(group for group, n, _ in counts if n <= limit)
        scores = [-worst for _, n, worst in counts if n > limit]
        bound = (min(scores),) if scores else None
    sql, params = narrowed_query(selection, database, groups, limit, bound, small)
    result = client.query(sql, parameters=params).result_rows
    if groups is None:
        return {"": [(tid, version) for tid, version in result]} if result else {}
    return {group: [(entry[-2], entry[-1]) for entry in entries] for group, entries in result}


def key_filters(selection: Selection) -> tuple[str, dict[str, Any]]:
    """The selection's conditions on columns of the sort key it reads (``SORT_KEYS``: every row under
    one key has their values), so a lookup of a key's rows may add them and still find all of them:
    tenant and agent in ``trajectories``, the pipeline version in ``trajectory_versions``."""
    if selection.pipeline_version:
        return where(Selection(pipeline_version=selection.pipeline_version))
    return where(Selection(agent=selection.agent, tenant=selection.tenant))


# The columns a strategy's output rows need (``_row``; the reasons of signals and heuristic): the
# lookup of the newest rows reads them for every granule holding a looked-up id, so not the map of
# category counts when it is not shown.
OUTPUT_COLUMNS: Final = {
    "signals": (*COLUMNS[:5], "category_counts"),
    "heuristic": (*COLUMNS[:5], "tool_errors", "events"),
    "random": COLUMNS[:5],
    "stratified": COLUMNS[:5],
    "diverse": COLUMNS[:5],
}


def newest_rows(client: Any, selection: Selection, database: str, ids: list[str]) -> dict[Stored, Row]:
    """(trajectory id, version) -> the row, for the newest row of each sort key of these trajectories
    (the highest version: the row FINAL keeps), with the output columns (and for the scored
    strategies the score of a row without peers). Only keys with the selection's tenant, agent
    (and pipeline version) can hold an entry, so the lookup reads only those."""
    table = stored_table(selection)
    scored = f", {STORED_SCORE} AS score, 0 AS peers, 0 AS agreeing, '' AS basis" if selection.strategy in SCORED else ""
    clause, params = key_filters(selection)
    columns = ", ".join(OUTPUT_COLUMNS[selection.strategy])
    sql = (f"SELECT {columns}{scored}, {HASH} AS h, {SORT_KEYS[table]} AS row_key, version "
           f"FROM {database}.{table} {clause} AND trajectory_id IN {{ids:Array(String)}} ORDER BY version")
    by_key = {tuple(row["row_key"]): row for row in  # ascending versions: the newest of each key stays
              client.query(sql, parameters={**params, "ids": ids, "seed": selection.seed}).named_results()}
    return {(row["trajectory_id"], row["version"]): row for row in by_key.values()}


def newest_groups(client: Any, selection: Selection, database: str, groups: str | None) -> dict[str, list[Row]]:
    """Per group, the first ``n`` rows FINAL would give, without FINAL: the first stored rows (2n,
    then 4x more while a group has too few newest ones), kept when they are the newest of their
    sort key. The newest rows among the first k stored rows are the first newest rows (a newest row
    ranking above one of them is itself among the k), so n of them are the answer."""
    limit = 2 * selection.n
    while True:
        stored = stored_rows(client, selection, database, groups, limit)
        ids = list({tid for entries in stored.values() for tid, _ in entries})
        newest = newest_rows(client, selection, database, ids) if ids else {}
        kept = {group: newest_of(entries, newest) for group, entries in stored.items()}
        if all(len(kept[group]) >= selection.n or len(entries) < limit for group, entries in stored.items()):
            return {group: rows[:selection.n] for group, rows in kept.items()}
        limit *= 4


def newest_of(entries: list[Stored], newest: dict[Stored, Row]) -> list[Row]:
    """The entries that are the newest row of their key, in entry order, once per trajectory."""
    kept: dict[str, Row] = {}
    for entry in entries:
        if entry in newest:
            kept.setdefault(entry[0], newest[entry])
    return list(kept.values())


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


def sample_newest(client: Any, selection: Selection, database: str, weights: CohortWeights | None = None) -> list[Row]:
    """random and heuristic: no score, so no cohort; the newest rows without FINAL."""
    return [_row(values, _reason(selection.strategy, selection.seed, values))
            for values in newest_groups(client, selection, database, None).get("", [])]


def best_first(values: Row) -> tuple[float, int]:
    return -float(values["score"]), int(values["h"])


def any_keyed(client: Any, selection: Selection, database: str) -> bool:
    """Whether a stored row matching the selection has a cohort key: every selected keyed newest row
    is one, so without any the keyed query (FINAL and windows) has nothing to score."""
    clause, params = where(selection)
    sql = f"SELECT count() FROM (SELECT 1 FROM {database}.{stored_table(selection)} {clause} AND {KEYED} LIMIT 1)"
    return bool(client.query(sql, parameters=params).result_rows[0][0])


def sample_ordered(client: Any, selection: Selection, database: str, weights: CohortWeights | None = None) -> list[Row]:
    """signals: the keyed rows by their combined score and the others by their trajectory score, merged."""
    keyed: list[Row] = []
    if any_keyed(client, selection, database):
        sql, params = ordered_query(selection, database, weights)
        keyed = list(client.query(sql, parameters=params).named_results())
    unkeyed = newest_groups(client, selection, database, None).get("", [])
    ranked = sorted([*keyed, *unkeyed], key=best_first)[:selection.n]
    return [_row(values, _reason(selection.strategy, selection.seed, values)) for values in ranked]


def _candidates(client: Any, selection: Selection, database: str, group: str,
                weights: CohortWeights | None) -> tuple[list[tuple[str, list[Candidate]]], dict[str, Row]]:
    """Per group, the best ``n`` of the keyed and the unkeyed candidates; and the unkeyed rows by id."""
    strata: dict[str, list[Candidate]] = {}
    if any_keyed(client, selection, database):
        sql, params = top_by_group_query(selection, database, group, selection.n, weights)
        strata = {name: list(top) for name, top in client.query(sql, parameters=params).result_rows}
    unkeyed = newest_groups(client, selection, database, GROUPS[group])
    known = {row["trajectory_id"]: row for rows in unkeyed.values() for row in rows}
    for name, rows in unkeyed.items():
        strata[name] = [*strata.get(name, []), *((*best_first(row), row["trajectory_id"]) for row in rows)]
    best = {name: sorted(candidates)[:selection.n] for name, candidates in strata.items()}
    return [(name, best[name]) for name in sorted(best) if best[name]], known  # a group of superseded rows only: none


def sample_stratified(client: Any, selection: Selection, database: str,
                      weights: CohortWeights | None = None) -> list[Row]:
    """Round-robin over signal categories (alphabetical), each taking its next best unseen trajectory."""
    strata, known = _candidates(client, selection, database, "category", weights)
    return _rows(client, selection, database, round_robin(strata, selection.n), weights, known)




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


def _found(client: Any, selection: Selection, database: str, ids: Iterable[str], weights: CohortWeights | None,
           known: dict[str, Row]) -> dict[str, Row]:
    """Output columns of the ids: the unkeyed ones are known, the keyed ones are read (``details``)."""
    keyed = [tid for tid in ids if tid not in known]
    return {**(details(client, selection, database, keyed, weights) if keyed else {}), **known}


def _rows(client: Any, selection: Selection, database: str, reasons: dict[str, str],
          weights: CohortWeights | None, known: dict[str, Row]) -> list[Row]:
    found = _found(client, selection, database, reasons, weights, known)
    return [_row(found[tid], reason) for tid, reason in reasons.items() if tid in found]


def sample_diverse(client: Any, selection: Selection, database: str, weights: CohortWeights | None = None) -> list[Row]:
    """Greedy set cover of signal types over per-type top candidates, then fill by triage."""
    strata, known = _candidates(client, selection, database, "type", weights)
    candidates = {c[2]: c for _, top in strata for c in top}
    found = _found(client, selection, database, candidates, weights, known)
    types = {tid: set(row["signal_types"]) for tid, row in found.items()}
    reasons = set_cover(list(candidates.values()), types, selection.n)
    return _rows(client, selection, database, reasons, weights, found)


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
