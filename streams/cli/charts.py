"""Terminal charts: signal rates per agent and category as one sparkline row per series (`signals stats --by hour`)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any, Final, TextIO

BARS: Final = " ▁▂▃▄▅▆▇█"
MAX_COLUMNS: Final = 72  # wider ranges are summed into buckets of several hours


def sparkline(values: list[int], top: int) -> str:
    """One character per value, scaled to ``top`` (0 -> a space, any signal -> at least ▁)."""
    steps = len(BARS) - 1
    return "".join(BARS[0] if v <= 0 else BARS[max(1, round(v * steps / top))] for v in values)


def bucketed(rows: list[dict[str, Any]], interval_s: int) -> tuple[int, int, dict[tuple[str, str], list[int]]]:
    """(first bucket start, bucket width s, series -> counts per bucket) over the rows' whole span."""
    first, last = min(r["time"] for r in rows), max(r["time"] for r in rows)
    slots = (last - first) // interval_s + 1
    per = -(-slots // MAX_COLUMNS)  # ceil: intervals per column
    width = per * interval_s
    series: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        counts = series.setdefault((row["agent_id"], row["category"]), [0] * (-(-slots // per)))
        counts[(row["time"] - first) // width] += row["signals"]
    return first, width, series


def render_rates(rows: list[dict[str, Any]], interval_s: int = 3600, out: TextIO | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out or sys.stdout, width=160 if out is not None else None)
    if not rows:
        console.print("no signals in this range")
        return
    first, width, series = bucketed(rows, interval_s)
    top = max(max(counts) for counts in series.values())
    start = datetime.fromtimestamp(first, tz=UTC).strftime("%Y-%m-%d %H:%M")
    table = Table(title=f"signals per {width // 3600}h from {start} UTC (█ = {top})", header_style="bold")
    for name, justify in (("agent", "left"), ("category", "left"), ("rate", "left"), ("total", "right"),
                          ("peak", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for (agent, category), counts in sorted(series.items()):
        table.add_row(agent or "-", category, sparkline(counts, top), str(sum(counts)), str(max(counts)))
    console.print(table)
