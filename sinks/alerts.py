"""Spike alerts in ClickHouse: the rows the worker writes, and ``recent_alerts`` (`signals alerts`, the review page).

An alert record (``streams/alerts.py``, JSON on the alerts topic) is a dict with at least ``agent_id``,
``category``, ``window_start`` and ``window_end`` (epoch seconds), ``count`` and ``baseline``; the
table is ``sinks/schema/005_alerts.sql`` (one row per key and window, duplicates collapse).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sinks.selection import MAX_N, Selection, epoch_ms

ALERT_COLUMNS: Final = ("agent_id", "category", "window_start", "window_end", "count", "baseline",
                        "threshold", "pipeline_version")
MAX_LIMIT: Final = MAX_N
Row = dict[str, Any]


def alert_row(alert: Row) -> tuple[Any, ...]:
    """An alert record (a dict as on the alerts topic) -> a row of ``alerts`` in ALERT_COLUMNS order."""
    return (str(alert["agent_id"]), str(alert["category"]), _utc(alert["window_start"]), _utc(alert["window_end"]),
            int(alert["count"]), float(alert["baseline"]), float(alert.get("threshold", 0.0)),
            str(alert.get("pipeline_version", "")))


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(int(epoch_s), tz=UTC)


def recent_alerts(client: Any, database: str, *, agent: str = "", category: str = "", since: str = "",
                  until: str = "", limit: int = 50) -> list[Row]:
    """The newest alerts first (by window start), filtered by agent, category (a prefix: ``execution``
    matches every execution category) and window start in [since, until) (ISO 8601, naive = UTC).

    Rows: agent_id, category, window_start, window_end (epoch seconds), count, baseline, threshold,
    pipeline_version. Raises ValueError for a bad time or limit."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    conditions: list[str] = ["1"]
    params: dict[str, Any] = {"limit": limit}
    if agent:
        conditions.append("agent_id = {agent:String}")
        params["agent"] = agent
    if category:
        conditions.append("(category = {category:String} OR startsWith(category, {prefix:String}))")
        params.update(category=category, prefix=category.rstrip(".") + ".")
    if since:
        conditions.append("window_start >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')")
        params["since_ms"] = epoch_ms(since)
    if until:
        conditions.append("window_start < fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')")
        params["until_ms"] = epoch_ms(until)
    sql = ("SELECT agent_id, category, toUnixTimestamp(window_start) AS window_start, "
           "toUnixTimestamp(window_end) AS window_end, count, baseline, threshold, pipeline_version "
           f"FROM {database}.alerts FINAL WHERE {' AND '.join(conditions)} "
           "ORDER BY window_start DESC, agent_id, category LIMIT {limit:UInt32}")
    return [{**row, "count": int(row["count"]), "baseline": float(row["baseline"]),
             "threshold": float(row["threshold"]), "window_start": int(row["window_start"]),
             "window_end": int(row["window_end"])}
            for row in client.query(sql, parameters=params).named_results()]


def alerts_for(client: Any, selection: Selection, database: str) -> list[Row]:
    """``recent_alerts`` for the query service's ``alerts`` op: --agent, --signal (a category), --since,
    --until and --n of the selection flags."""
    return recent_alerts(client, database, agent=selection.agent, category=selection.signal,
                         since=selection.since, until=selection.until, limit=selection.n)
