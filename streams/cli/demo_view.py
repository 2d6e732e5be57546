"""What `signals demo` prints: a summary of the run and of ClickHouse, then a sample worth reviewing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from detectors.model import category_of
from streams.cli.output import QUALITY_STYLES

QUALITIES = ("excellent", "good", "neutral", "poor", "severe")


@dataclass(frozen=True)
class Run:
    paths: list[str]
    mode: str  # "in-process" or "Kafka <url>"
    trajectories: int
    events: int
    engine_s: float  # the detectors alone on these trajectories, in the demo's process
    pipeline_s: float | None  # the work: first event produced -> last final record inserted (or the load)
    total_s: float  # the whole run, startup and waits included
    dsn: str
    database: str


def by_section(stats: list[dict[str, Any]], section: str) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in stats if row["section"] == section}


def category_totals(stats: list[dict[str, Any]]) -> dict[str, tuple[int, dict[str, int]]]:
    """Signal category -> (instances, trajectories per signal type of the category)."""
    totals: dict[str, tuple[int, dict[str, int]]] = {}
    for signal_type, row in by_section(stats, "signal_type").items():
        instances, types = totals.setdefault(category_of(signal_type), (0, {}))
        types[signal_type.rsplit(".", 1)[1]] = row["trajectories"]
        totals[category_of(signal_type)] = (instances + row["instances"], types)
    return dict(sorted(totals.items(), key=lambda item: -item[1][0]))


def type_breakdown(types: dict[str, int], limit: int = 4) -> str:
    ranked = sorted(types.items(), key=lambda item: (-item[1], item[0]))
    text = ", ".join(f"{name} {n}" for name, n in ranked[:limit])
    return text + (", ..." if len(ranked) > limit else "")


def rate(events: int, seconds: float) -> str:
    return f"{events / seconds:,.0f}" if seconds > 0 else "-"


def summary_table(run: Run, stats: list[dict[str, Any]]) -> Table:
    table = Table(title="signals demo", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("input", ", ".join(run.paths))
    table.add_row("pipeline", f"{run.mode} -> {run.dsn} (database {run.database})")
    table.add_row("this run", f"{run.trajectories} trajectories, {run.events} events")
    table.add_row("  engine", f"{rate(run.events, run.engine_s)} events/s "
                              f"({run.engine_s * 1e6 / max(run.events, 1):,.0f} µs/event, detectors alone)")
    kafka = run.mode != "in-process"
    path = "first event produced -> last final record in ClickHouse" if kafka else "files -> detectors -> rows"
    note = "; on a run this small, mostly the batching windows" if kafka else ""
    if run.pipeline_s is None:
        table.add_row("  end to end", "not measured: these records were already in ClickHouse (identical inserts "
                                      "are deduplicated); use a fresh --dsn to time the pipeline")
    else:
        table.add_row("  end to end", f"{rate(run.events, run.pipeline_s)} events/s over {run.pipeline_s:.2f} s "
                                      f"({path}{note})")
    startup = "broker check, worker start, group join" if kafka else "opening ClickHouse, the schema"
    table.add_row("  whole demo", f"{run.total_s:.1f} s, {startup} included")
    qualities = by_section(stats, "quality")
    stored = sum(row["trajectories"] for row in qualities.values())
    table.add_row("in ClickHouse", f"{stored} trajectories")
    table.add_row("quality", "  ".join(f"[{QUALITY_STYLES[q]}]{q}[/] {qualities[q]['trajectories']}"
                                       for q in QUALITIES if q in qualities))
    table.add_row("signals", "instances (trajectories per type)")
    for category, (instances, types) in category_totals(stats).items():
        table.add_row(f"  {category}", f"{instances} ({type_breakdown(types)})")
    return table


def sample_table(sample: list[dict[str, Any]]) -> Table:
    table = Table(title=f"worth reviewing first ({len(sample)}, strategy: signals)", title_justify="left")
    for name in ("id", "triage", "quality", "top signals", "reason"):
        table.add_column(name, overflow="fold")
    for row in sample:
        style = QUALITY_STYLES.get(row["quality"], "white")
        table.add_row(row["id"], f"{row['triage_score']:.2f}", f"[{style}]{row['quality']}[/]",
                      ", ".join(t.removeprefix("interaction.") for t in row["signal_types"][:3]), row["reason"])
    return table


def render(run: Run, stats: list[dict[str, Any]], sample: list[dict[str, Any]], console: Console | None = None) -> None:
    out = console or Console()
    out.print(summary_table(run, stats))
    out.print(sample_table(sample))
    out.print("next: [bold]signals sample --strategy stratified --n 20[/], [bold]signals export[/], "
              "[bold]signals stats[/]")
