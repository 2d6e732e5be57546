"""Sampling strategies over the deduplicated trajectories table (see docs/sampling.md).

Every strategy is deterministic for a seed: ties (and `random`) are ordered by
``xxHash64(trajectory_id, seed)``. Output rows: id, pipeline_version, triage_score, quality,
signal_types, reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sinks.selection import Selection, source_table, where

COLUMNS: Final = ("trajectory_id", "pipeline_version", "triage_score", "quality", "signal_types",
                  "category_counts", "tool_errors", "events")
HASH: Final = "xxHash64(trajectory_id, {seed:UInt64})"
ORDERS: Final = {
    "signals": f"triage_score DESC, {HASH}",
    "heuristic": f"tool_errors DESC, events DESC, {HASH}",
    "random": HASH,
}
Row = dict[str, Any]


def ordered_query(selection: Selection, database: str) -> tuple[str, dict[str, Any]]:
    clause, params = where(selection)
    sql = (f"SELECT {', '.join(COLUMNS)} FROM {source_table(selection, database)} {clause} "
           f"ORDER BY {ORDERS[selection.strategy]} LIMIT {{n:UInt32}}")
    return sql, {**params, "seed": selection.seed, "n": selection.n}


def top_by_group_query(selection: Selection, database: str, group: str, per_group: int) -> tuple[str, dict[str, Any]]:
    """Top ``per_group`` trajectories by triage per signal type/category in one GROUP BY.

    ``groupArraySorted`` keeps a bounded heap per group instead of sorting every (row, group) pair
    as ``LIMIT k BY`` does.
    """
    clause, params = where(selection)
    keys = "signal_types" if group == "type" else "mapKeys(category_counts)"
    sql = (
        "SELECT grp, groupArraySorted({k:UInt32})((-triage_score, h, trajectory_id)) AS top "
        f"FROM (SELECT trajectory_id, triage_score, {HASH} AS h, {keys} AS groups "
        f"FROM {source_table(selection, database)} {clause}) ARRAY JOIN groups AS grp GROUP BY grp ORDER BY grp"
    )
    return sql, {**params, "seed": selection.seed, "k": per_group}


def details(client: Any, selection: Selection, database: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Output columns of the given trajectories (small tuples in the heaps above keep them fast)."""
    clause, params = where(selection)
    sql = (f"SELECT trajectory_id, pipeline_version, triage_score, quality, signal_types "
           f"FROM {source_table(selection, database)} {clause} AND trajectory_id IN {{ids:Array(String)}}")
    rows = client.query(sql, parameters={**params, "ids": ids}).named_results()
    return {row["trajectory_id"]: row for row in rows}


def _row(trajectory_id: str, version: str, score: float, quality: str, types: list[str], reason: str) -> Row:
    return {"id": trajectory_id, "pipeline_version": version, "triage_score": round(float(score), 4),
            "quality": quality, "signal_types": list(types), "reason": reason}


def top_categories(category_counts: dict[str, int], limit: int = 2) -> str:
    ranked = sorted(category_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return ", ".join(f"{name} x{n}" for name, n in ranked) or "no signals"


def _reason(strategy: str, seed: int, values: dict[str, Any]) -> str:
    if strategy == "signals":
        return f"top triage {values['triage_score']:.2f}: {top_categories(values['category_counts'])}"
    if strategy == "heuristic":
        return f"heuristic: {values['tool_errors']} tool errors, {values['events']} events"
    return f"random by seed {seed}"


def sample_ordered(client: Any, selection: Selection, database: str) -> list[Row]:
    sql, params = ordered_query(selection, database)
    out = []
    for values in client.query(sql, parameters=params).named_results():
        reason = _reason(selection.strategy, selection.seed, values)
        out.append(_row(values["trajectory_id"], values["pipeline_version"], values["triage_score"],
                        values["quality"], values["signal_types"], reason))
    return out


def _candidates(client: Any, selection: Selection, database: str, group: str) -> list[tuple[str, list[tuple]]]:
    sql, params = top_by_group_query(selection, database, group, selection.n)
    return [(name, list(top)) for name, top in client.query(sql, parameters=params).result_rows]


def sample_stratified(client: Any, selection: Selection, database: str) -> list[Row]:
    """Round-robin over signal categories (alphabetical), each taking its next best unseen trajectory."""
    return _rows(client, selection, database, round_robin(_candidates(client, selection, database, "category"),
                                                          selection.n))


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


def _rows(client: Any, selection: Selection, database: str, reasons: dict[str, str]) -> list[Row]:
    found = details(client, selection, database, list(reasons)) if reasons else {}
    return [_row(tid, found[tid]["pipeline_version"], found[tid]["triage_score"], found[tid]["quality"],
                 found[tid]["signal_types"], reason) for tid, reason in reasons.items() if tid in found]


def sample_diverse(client: Any, selection: Selection, database: str) -> list[Row]:
    """Greedy set cover of signal types over per-type top candidates, then fill by triage."""
    candidates = {c[2]: c for _, top in _candidates(client, selection, database, "type") for c in top}
    found = details(client, selection, database, list(candidates)) if candidates else {}
    types = {tid: set(row["signal_types"]) for tid, row in found.items()}
    return _rows(client, selection, database, set_cover(list(candidates.values()), types, selection.n))


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


SAMPLERS: Final[dict[str, Callable[[Any, Selection, str], list[Row]]]] = {
    "signals": sample_ordered,
    "heuristic": sample_ordered,
    "random": sample_ordered,
    "stratified": sample_stratified,
    "diverse": sample_diverse,
}


def sample(client: Any, selection: Selection, database: str) -> list[Row]:
    return SAMPLERS[selection.strategy](client, selection, database)
