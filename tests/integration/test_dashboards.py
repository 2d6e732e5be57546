"""The Grafana dashboard and `signals stats --by hour` / `signals alerts` on the embedded engine.

Every ClickHouse panel of infra/grafana/dashboards/agent-signals.json runs on chDB with the Grafana
macros substituted by ``sinks.dashboard.render`` (its docstring says how); every Prometheus panel
names metrics the worker exports; the compose file provisions both data sources and the dashboard.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from sinks.alerts import alert_row, recent_alerts
from sinks.dashboard import PANELS, dashboard_json, render
from sinks.writer import Writer
from streams.cli import main
from streams.settings import Settings
from streams.worker.metrics import Metrics
from tests.support.chdb import chdb_dsn, make_report

pytestmark = pytest.mark.integration
INFRA = Path(__file__).resolve().parents[2] / "infra"
DASHBOARD = INFRA / "grafana/dashboards/agent-signals.json"
HOUR, DAY0 = 3600, 1_735_689_600  # 2025-01-01T00:00Z


@pytest.fixture(scope="module")
def loaded(ch):
    client, database = ch
    writer = Writer(lambda: client, database)
    reports = [make_report(f"t{i}", {"execution.failure.bad_query": 1 + i % 3, "interaction.misalignment.correction": 1},
                           agent=("agent-a", "agent-b")[i % 2], quality=("poor", "good")[i % 2],
                           triage=i / 10, first_ts=DAY0 + (i % 4) * HOUR) for i in range(8)]
    writer.write_reports(reports)
    writer.add("alerts", [alert_row({"agent_id": "agent-a", "category": "execution.failure", "window_start": DAY0 + 300 * k,
                                     "window_end": DAY0 + 300 * (k + 1), "count": 30 + k, "baseline": 4.0,
                                     "threshold": 12.0}) for k in range(3)])
    writer.flush()
    return client, database


def test_the_dashboard_file_is_what_sinks_dashboard_writes() -> None:
    assert DASHBOARD.read_text() == dashboard_json(), "regenerate: python -m sinks.dashboard > " + str(DASHBOARD.name)
    titles = {p["title"] for p in json.loads(DASHBOARD.read_text())["panels"]}
    assert len(titles) == len(PANELS) >= 8


@pytest.mark.parametrize("panel", [p for p in PANELS if p.source == "clickhouse"], ids=lambda p: p.key)
def test_every_clickhouse_panel_runs_on_the_embedded_engine(loaded, panel) -> None:
    client, database = loaded
    [target] = next(p for p in json.loads(DASHBOARD.read_text())["panels"] if p["title"] == panel.title)["targets"]
    assert target["rawSql"] == panel.query.replace("{db}", "signals")  # the file holds the module's SQL
    sql = render(panel.query, database=database, from_s=DAY0, to_s=DAY0 + 24 * HOUR, interval_s=HOUR)
    assert "$__" not in sql and "{db}" not in sql
    result = client.query(sql)
    assert result.result_rows, panel.key
    empty = client.query(render(panel.query, database=database, from_s=0, to_s=DAY0 - HOUR, interval_s=HOUR))
    assert empty.result_rows == []  # the time filter filters


def test_signal_rates_by_hour_per_agent_and_category(loaded) -> None:
    client, database = loaded
    sql = render(PANELS[0].query, database=database, from_s=DAY0, to_s=DAY0 + 24 * HOUR, interval_s=HOUR)
    rows = {(str(t), a, c): n for t, a, c, n in client.query(sql).result_rows}
    # signal rows are dated by the record's last event (first_ts + 60 s): hour i % 4 for trajectory i
    assert sum(n for (_, a, c), n in rows.items() if c == "execution.failure") == sum(1 + i % 3 for i in range(8))
    assert {a for _, a, _ in rows} == {"agent-a", "agent-b"} and len({t for t, _, _ in rows}) == 4


def sample_names(metrics: Metrics) -> set[str]:
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {family.name + s for family in metrics.registry.collect() for s in suffixes[family.type]}


def test_prometheus_panels_name_metrics_the_worker_exports() -> None:
    exported = sample_names(Metrics())
    used = {name for p in PANELS if p.source == "prometheus" for name in re.findall(r"\bsignals_\w+", p.query)}
    assert used and used <= exported, used - exported
    assert {"signals_consumer_lag", "signals_rejected_total", "signals_events_total"} <= used


def test_compose_provisions_grafana_and_prometheus() -> None:
    compose = yaml.safe_load((INFRA / "docker-compose.yml").read_text())["services"]
    for name in ("grafana", "prometheus"):
        service = compose[name]
        _, _, tag = service["image"].partition(":")
        assert tag and tag != "latest", f"{name}: pin the image"
        assert service["healthcheck"]["test"] and service["volumes"]
    assert "grafana-clickhouse-datasource" in compose["grafana"]["environment"]["GF_INSTALL_PLUGINS"]
    mounts = {v.split(":")[1]: (INFRA / v.split(":")[0]).resolve() for v in compose["grafana"]["volumes"] if v.startswith("./")}
    assert mounts["/etc/grafana/provisioning"] == (INFRA / "grafana/provisioning").resolve()
    assert mounts["/var/lib/grafana/dashboards"] == DASHBOARD.parent.resolve()
    sources = yaml.safe_load((INFRA / "grafana/provisioning/datasources/signals.yml").read_text())["datasources"]
    panel_sources = {p["datasource"]["uid"]: p["datasource"]["type"] for p in json.loads(DASHBOARD.read_text())["panels"]}
    assert {s["uid"]: s["type"] for s in sources} == panel_sources
    [provider] = yaml.safe_load((INFRA / "grafana/provisioning/dashboards/signals.yml").read_text())["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    [job] = yaml.safe_load((INFRA / "prometheus.yml").read_text())["scrape_configs"]
    assert job["static_configs"][0]["targets"] == [f"worker:{Settings().metrics_port}"]


def test_stats_by_hour_draws_the_rates_and_alerts_lists_them(loaded, capsys) -> None:
    client, database = loaded
    args = ["--dsn", chdb_dsn(), "--database", database]
    assert main(["stats", "--by", "hour", *args]) == 0
    chart = capsys.readouterr().out
    assert "signals per 1h from 2025-01-01 00:00 UTC" in chart
    lines = [line for line in chart.splitlines() if "agent-a" in line and "execution.failure" in line]
    assert len(lines) == 1 and re.search(r"│ [▁-█] [▁-█]  │", lines[0])  # hours 0 and 2 (even ids), none at 1, 3
    assert "█" in chart  # the peak series
    assert main(["stats", "--by", "hour", "--agent", "agent-b", "--format", "jsonl", *args]) == 0
    rates = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rates and {r["agent_id"] for r in rates} == {"agent-b"}
    assert main(["alerts", "--format", "jsonl", *args]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [a["window_start"] for a in listed] == [DAY0 + 600, DAY0 + 300, DAY0]  # newest first
    assert listed[0] == {"agent_id": "agent-a", "category": "execution.failure", "window_start": DAY0 + 600,
                         "window_end": DAY0 + 900, "count": 32, "baseline": 4.0, "threshold": 12.0,
                         "pipeline_version": ""}
    assert recent_alerts(client, database, category="execution", since="2025-01-01T00:05:00", limit=1)[0]["count"] == 32
    assert recent_alerts(client, database, agent="agent-b") == []
    assert recent_alerts(client, database, category="interaction") == []
    assert main(["alerts", *args]) == 0
    assert "agent-a" in capsys.readouterr().out
