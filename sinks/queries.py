"""Read-side queries beyond sampling: full export of sampled trajectories, and stats."""

from __future__ import annotations

from typing import Any

import msgspec

from sinks.sampling import sample
from sinks.selection import Selection, where
from sinks.version import rank_of

_json = msgspec.json.Decoder()
Row = dict[str, Any]


def export(client: Any, selection: Selection, database: str) -> list[Row]:
    """Sampled trajectories with their record, raw events and signals (of the record's version)."""
    picked = sample(client, selection, database)
    found = bundles(client, database, [row["id"] for row in picked], selection.pipeline_version)
    return [{"id": row["id"], "reason": row["reason"], **found[row["id"]]} for row in picked]


def bundles(client: Any, database: str, ids: list[str], pipeline_version: str = "") -> dict[str, Row]:
    """id -> {record, events, signals} for each id (record None when none is stored); the signals are
    those of the record's pipeline version (of ``pipeline_version`` when given)."""
    if not ids:
        return {}
    table = "trajectory_versions" if pipeline_version else "trajectories"
    version_filter = "AND pipeline_version = {pv:String}" if pipeline_version else ""
    records = {tid: (version, record) for tid, version, record in client.query(
        f"SELECT trajectory_id, pipeline_version, record FROM {database}.{table} FINAL "
        f"WHERE trajectory_id IN {{ids:Array(String)}} {version_filter}",
        parameters={"ids": ids, "pv": pipeline_version}).result_rows}
    events, signals = _events(client, database, ids), _signals(client, database, ids)
    out = {}
    for tid in ids:
        version, record = records.get(tid, (pipeline_version, None))
        out[tid] = {"record": _json.decode(record) if record else None, "events": events.get(tid, []),
                    "signals": signals.get((tid, version), [])}
    return out


def trajectory(client: Any, database: str, trajectory_id: str, pipeline_version: str = "") -> list[Row]:
    """One trajectory as ``bundles`` gives it, with its id; [] when nothing of it is stored."""
    found = bundles(client, database, [trajectory_id], pipeline_version)[trajectory_id]
    if found["record"] is None and not found["events"]:
        return []
    return [{"id": trajectory_id, **found}]


def _events(client: Any, database: str, ids: list[str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    result = client.query(f"SELECT trajectory_id, payload FROM {database}.events FINAL "
                          "WHERE trajectory_id IN {ids:Array(String)} ORDER BY trajectory_id, seq",
                          parameters={"ids": ids})
    for tid, payload in result.result_rows:
        out.setdefault(tid, []).append(_json.decode(payload))
    return out


def _signals(client: Any, database: str, ids: list[str]) -> dict[tuple[str, str], list[Row]]:
    out: dict[tuple[str, str], list[Row]] = {}
    result = client.query(f"SELECT trajectory_id, pipeline_version, signal_type, idx, confidence, snippet, tool, "
                          f"metadata, toUnixTimestamp64Milli(ts) AS ts_ms FROM {database}.signals FINAL "
                          "WHERE trajectory_id IN {ids:Array(String)} ORDER BY trajectory_id, idx, signal_type",
                          parameters={"ids": ids})
    for v in result.named_results():
        signal = {"type": v["signal_type"], "index": v["idx"], "confidence": round(float(v["confidence"]), 4),
                  "snippet": v["snippet"], "tool": v["tool"], "metadata": _json.decode(v["metadata"]),
                  "ts": v["ts_ms"] / 1000 if v["ts_ms"] else None}
        out.setdefault((v["trajectory_id"], v["pipeline_version"]), []).append(signal)
    return out


def final_count(client: Any, database: str, ids: list[str]) -> int:
    """How many of these trajectories have their final record stored (`signals demo` waits on it)."""
    sql = (f"SELECT count() FROM {database}.trajectories FINAL "
           "WHERE final = 1 AND trajectory_id IN {ids:Array(String)}")
    return int(client.query(sql, parameters={"ids": ids}).result_rows[0][0])


def landed_since(client: Any, database: str, ids: list[str], since_ms: int) -> dict[str, int]:
    """Of these trajectories, how many had a final record inserted at or after ``since_ms`` (the
    server's clock, ms since the epoch), the newest such insert (0: none), and the server's time
    now: `signals demo` takes ``now`` before producing, so a rerun on the same ids and a server
    clock unlike the caller's both measure only this run's writes."""
    sql = ("SELECT uniqExact(trajectory_id), toUnixTimestamp64Milli(max(inserted_at)), "
           f"toUnixTimestamp64Milli(now64(3)) FROM {database}.trajectories "
           "WHERE final = 1 AND trajectory_id IN {ids:Array(String)} "
           "AND inserted_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')")
    final, last, now = client.query(sql, parameters={"ids": ids, "since": since_ms}).result_rows[0]
    # "stored": final records of these ids whenever inserted. A rerun of identical trajectories
    # inserts identical batches, which ClickHouse deduplicates: "final" then never reaches them all.
    stored = final_count(client, database, ids) if ids else 0
    return {"final": int(final), "last_ms": int(last) if final else 0, "now_ms": int(now), "stored": stored}


def stats(client: Any, selection: Selection, database: str) -> list[Row]:
    """Rows {section, key, trajectories, instances}: by quality, signal type, pipeline version, changes."""
    clause, params = where(Selection(agent=selection.agent, tenant=selection.tenant, since=selection.since,
                                     until=selection.until, quality=selection.quality, signal=selection.signal))
    source = f"{database}.trajectories FINAL {clause}"
    out = [_stat("quality", q, n) for q, n in client.query(
        f"SELECT quality, count() FROM {source} GROUP BY quality ORDER BY quality", parameters=params).result_rows]
    out += [_stat("signal_type", t, n, i) for t, n, i in client.query(
        f"SELECT k, count(), sum(v) FROM (SELECT signal_counts FROM {source}) ARRAY JOIN mapKeys(signal_counts) AS k, mapValues(signal_counts) AS v "
        "GROUP BY k ORDER BY k", parameters=params).result_rows]
    versions = client.query(
        f"SELECT pipeline_version, count(), max(version) AS top FROM {database}.trajectory_versions FINAL {clause} "
        "GROUP BY pipeline_version", parameters=params).result_rows
    versions.sort(key=lambda v: (rank_of(v[2]), v[0]))
    out += [_stat("pipeline_version", pv, n) for pv, n, _ in versions]
    if len(versions) > 1:
        out += quality_changes(client, database, clause, params, versions[-2][0], versions[-1][0])
    return out


def _stat(section: str, key: str, trajectories: int, instances: int = 0) -> Row:
    return {"section": section, "key": key, "trajectories": int(trajectories), "instances": int(instances)}


def quality_changes(client: Any, database: str, clause: str, params: dict[str, Any], old: str, new: str) -> list[Row]:
    """Quality transitions of trajectories present in both versions, e.g. key ``1.0.0:good -> 2.0.0:poor``."""
    sql = (
        "SELECT qa, qb, count() FROM (SELECT trajectory_id, anyIf(quality, pipeline_version = {old:String}) AS qa, "
        "anyIf(quality, pipeline_version = {new:String}) AS qb, countIf(pipeline_version = {old:String}) AS ha, "
        f"countIf(pipeline_version = {{new:String}}) AS hb FROM {database}.trajectory_versions FINAL {clause} "
        "GROUP BY trajectory_id HAVING ha > 0 AND hb > 0) GROUP BY qa, qb ORDER BY qa, qb"
    )
    rows = client.query(sql, parameters={**params, "old": old, "new": new}).result_rows
    changed = sum(n for qa, qb, n in rows if qa != qb)
    out = [_stat("quality_changed", f"{old} -> {new}", changed, sum(n for *_, n in rows))]
    return out + [_stat("quality_transition", f"{old}:{qa} -> {new}:{qb}", n) for qa, qb, n in rows if qa != qb]
