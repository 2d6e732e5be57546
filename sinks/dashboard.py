"""The dashboard's queries, once: the Grafana dashboard (``infra/grafana/dashboards/agent-signals.json``,
written by ``python -m sinks.dashboard``) and `signals stats --by hour` read the same SQL.

ClickHouse panels are written with the macros of Grafana's ClickHouse data source
(``grafana-clickhouse-datasource``): ``$__timeFilter(col)`` (the dashboard's time range) and
``$__timeInterval(col)`` (``col`` truncated to the panel's interval). ``render`` substitutes them the
documented way, for the CLI and for the tests that run every panel on the embedded engine:

- ``$__timeFilter(col)``   -> ``col >= toDateTime(<from>, 'UTC') AND col < toDateTime(<to>, 'UTC')``
- ``$__timeInterval(col)`` -> ``toStartOfInterval(toDateTime(col, 'UTC'), INTERVAL <interval> second)``
- ``{db}``                 -> the database (the dashboard file uses ``signals``, the default)

Prometheus panels use the worker's metrics (``streams/worker/metrics.py``).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any, Final

from sinks.config import DEFAULT_DATABASE, database_name
from sinks.selection import Selection, epoch_ms


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    source: str  # clickhouse | prometheus
    query: str  # SQL with Grafana macros and {db}, or PromQL
    kind: str = "timeseries"  # the Grafana panel type
    legend: str = ""  # Prometheus legend format


SIGNAL_RATES: Final = Panel(
    "signal_rates", "Signals per agent and category", "clickhouse",
    "SELECT $__timeInterval(ts) AS time, agent_id, category, count() AS signals "
    "FROM {db}.signals FINAL WHERE $__timeFilter(ts) "
    "GROUP BY time, agent_id, category ORDER BY time, agent_id, category")
PANELS: Final = (
    SIGNAL_RATES,
    Panel("quality_mix", "Quality mix (trajectories by first event)", "clickhouse",
          "SELECT $__timeInterval(first_ts) AS time, quality, count() AS trajectories "
          "FROM {db}.trajectories FINAL WHERE $__timeFilter(first_ts) GROUP BY time, quality ORDER BY time, quality"),
    Panel("triage_distribution", "Triage score distribution", "clickhouse",
          "SELECT toString(round(floor(triage_score * 10) / 10, 1)) AS bucket, count() AS trajectories "
          "FROM {db}.trajectories FINAL WHERE $__timeFilter(first_ts) GROUP BY bucket ORDER BY bucket",
          kind="barchart"),
    Panel("alerts", "Spike alerts", "clickhouse",
          "SELECT window_start, agent_id, category, count, baseline, threshold "
          "FROM {db}.alerts FINAL WHERE $__timeFilter(window_start) ORDER BY window_start DESC LIMIT 200",
          kind="table"),
    Panel("throughput", "Throughput (per second)", "prometheus",
          "sum(rate(signals_events_total[$__rate_interval]))", legend="events"),
    Panel("records", "Trajectory records published (per second)", "prometheus",
          "sum by (final) (rate(signals_records_total[$__rate_interval]))", legend="records final={{final}}"),
    Panel("consumer_lag", "Consumer lag (messages)", "prometheus",
          "sum by (partition) (signals_consumer_lag)", legend="partition {{partition}}"),
    Panel("sink_lag", "Events not yet in ClickHouse (raw-events sink lag, messages)", "prometheus",
          "sum by (partition) (signals_sink_lag)", legend="partition {{partition}}"),
    Panel("records_sink_lag", "Records not yet in ClickHouse (records sink lag, messages)", "prometheus",
          "sum by (partition) (signals_records_sink_lag)", legend="partition {{partition}}"),
    Panel("dlq", "Dead-letter queue by reason (per second)", "prometheus",
          "sum by (reason) (rate(signals_rejected_total[$__rate_interval]))", legend="{{reason}}"),
    Panel("latency", "Event -> processing latency p99 (s)", "prometheus",
          "histogram_quantile(0.99, sum by (le) (rate(signals_processing_latency_seconds_bucket[$__rate_interval])))",
          legend="p99"),
)
_TIME_FILTER: Final = re.compile(r"\$__timeFilter\((\w+)\)")
_TIME_INTERVAL: Final = re.compile(r"\$__timeInterval\((\w+)\)")


def render(sql: str, *, database: str, from_s: int, to_s: int, interval_s: int) -> str:
    """A panel's SQL with the Grafana macros substituted (see the module docstring)."""
    db = database_name(database)
    out = _TIME_FILTER.sub(lambda m: f"{m[1]} >= toDateTime({int(from_s)}, 'UTC') AND "
                                     f"{m[1]} < toDateTime({int(to_s)}, 'UTC')", sql)
    out = _TIME_INTERVAL.sub(lambda m: f"toStartOfInterval(toDateTime({m[1]}, 'UTC'), "
                                       f"INTERVAL {int(interval_s)} second)", out)
    return out.replace("{db}", db)


def signal_rates(client: Any, database: str, *, from_s: int, to_s: int, interval_s: int = 3600,
                 agent: str = "") -> list[dict[str, Any]]:
    """Rows {time (epoch s), agent_id, category, signals}: the dashboard's first panel."""
    sql = render(SIGNAL_RATES.query, database=database, from_s=from_s, to_s=to_s, interval_s=interval_s)
    wrapped = f"SELECT toUnixTimestamp(time) AS time, agent_id, category, signals FROM ({sql})"
    if agent:
        wrapped += " WHERE agent_id = {agent:String}"
    rows = client.query(wrapped, parameters={"agent": agent}).named_results()
    return [{**row, "time": int(row["time"]), "signals": int(row["signals"])} for row in rows]


HOUR: Final = 3600
WHOLE_RANGE: Final = (0, 4_102_444_800)  # 1970 .. 2100: no --since / --until


def hourly_rates(client: Any, selection: Selection, database: str) -> list[dict[str, Any]]:
    """``signal_rates`` by hour for the query service's ``rates`` op (`signals stats --by hour`):
    --since/--until bound the signal times, --agent filters."""
    from_s = epoch_ms(selection.since) // 1000 if selection.since else WHOLE_RANGE[0]
    to_s = epoch_ms(selection.until) // 1000 if selection.until else WHOLE_RANGE[1]
    return signal_rates(client, database, from_s=from_s, to_s=to_s, interval_s=HOUR, agent=selection.agent)


# ------------------------------------------------------------------------------ Grafana JSON

DATASOURCES: Final = {"clickhouse": {"type": "grafana-clickhouse-datasource", "uid": "signals-clickhouse"},
                      "prometheus": {"type": "prometheus", "uid": "signals-prometheus"}}


def _target(panel: Panel) -> dict[str, Any]:
    if panel.source == "prometheus":
        return {"refId": "A", "datasource": DATASOURCES["prometheus"], "expr": panel.query,
                "legendFormat": panel.legend}
    fmt = 1 if panel.kind == "table" else 0  # the plugin's format: 0 time series, 1 table
    return {"refId": "A", "datasource": DATASOURCES["clickhouse"], "editorType": "sql", "queryType": "sql",
            "format": fmt, "rawSql": panel.query.replace("{db}", DEFAULT_DATABASE)}


def grafana_dashboard() -> dict[str, Any]:
    panels = []
    for number, panel in enumerate(PANELS):
        panels.append({"id": number + 1, "title": panel.title, "type": panel.kind,
                       "datasource": DATASOURCES[panel.source], "targets": [_target(panel)],
                       "gridPos": {"x": 12 * (number % 2), "y": 8 * (number // 2), "w": 12, "h": 8}})
    return {"uid": "agent-signals", "title": "agent-signals", "schemaVersion": 39, "version": 1,
            "time": {"from": "now-24h", "to": "now"}, "refresh": "30s", "tags": ["agent-signals"],
            "panels": panels}


def dashboard_json() -> str:
    return json.dumps(grafana_dashboard(), indent=2) + "\n"


if __name__ == "__main__":  # python -m sinks.dashboard > infra/grafana/dashboards/agent-signals.json
    sys.stdout.write(dashboard_json())
