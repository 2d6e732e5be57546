"""Rendering trajectory reports for people (a rich table) and machines (JSONL), for every command.

A JSONL row starts with ``id, quality, quality_score, triage_score, signals, counts`` (each signal
with all six keys ``type, index, confidence, snippet, tool, metadata``), then turn/tool counts, and
``reasons``, ``features`` (the triage evidence), ``labels`` (e.g. τ-bench ``reward``) and ``pipeline_version`` when they are set.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, Final, TextIO

import msgspec
from rich.console import Console
from rich.table import Table

from detectors.model import Signal, TrajectoryReport


class SignalRow(msgspec.Struct):
    type: str
    index: int
    confidence: float
    snippet: str
    tool: str
    metadata: dict[str, Any]


class ReportRow(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    quality: str
    quality_score: float
    triage_score: float
    signals: list[SignalRow]
    counts: dict[str, int]
    events: int
    user_turns: int
    assistant_turns: int
    tool_calls: int
    tool_errors: int
    reasons: list[str] = []
    features: dict[str, float] = {}
    labels: dict[str, Any] = {}
    pipeline_version: str = ""
    trajectory_score: float | None = None  # set when triage_score is the combined (cohort) score
    cohort: dict[str, Any] = {}  # basis, peers, agreeing


_encoder: Final = msgspec.json.Encoder()
QUALITY_STYLES: Final = {"excellent": "green", "good": "green", "neutral": "white", "poor": "yellow", "severe": "red"}
TOP_SIGNALS: Final = 3
TABLE_WIDTH: Final = 160  # for a stream that is not a terminal (rich would assume 80)
TOP_REASONS: Final = 2  # quality says how it went for the user, triage where a reviewer learns most


def report_row(report: TrajectoryReport, labels: dict[str, Any] | None = None) -> ReportRow:
    return ReportRow(
        id=report.id, quality=report.quality, quality_score=report.quality_score,
        triage_score=report.triage_score, signals=[_signal_row(s) for s in report.signals],
        counts=report.counts, events=report.events, user_turns=report.user_turns,
        assistant_turns=report.assistant_turns, tool_calls=report.tool_calls, tool_errors=report.tool_errors,
        reasons=report.reasons, features=report.features, labels=labels or {},
        pipeline_version=report.pipeline_version, trajectory_score=report.trajectory_score,
        cohort={} if report.cohort_basis is None else
        {"basis": report.cohort_basis, "peers": report.cohort_peers, "agreeing": report.cohort_agreeing},
    )


def report_to_dict(report: TrajectoryReport, labels: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSONL row as a dict (key order preserved)."""
    row: dict[str, Any] = msgspec.to_builtins(report_row(report, labels))
    return row


def write_jsonl(rows: Iterable[ReportRow], out: TextIO | None = None) -> int:
    """One JSON object per line; returns the number written."""
    stream = out or sys.stdout
    written = 0
    for row in rows:
        stream.write(_encoder.encode(row).decode() + "\n")
        written += 1
    return written


def render_table(reports: Iterable[TrajectoryReport | ReportRow], out: TextIO | None = None) -> None:
    """A table for people: id, quality, score, triage, events and the most frequent signals."""
    table = Table(show_lines=False, header_style="bold")
    for name, justify in (("id", "left"), ("quality", "left"), ("score", "right"), ("triage", "right"),
                          ("events", "right"), ("top signals", "left"), ("why this triage", "left")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for report in reports:
        table.add_row(*_table_cells(report))
    Console(file=out or sys.stdout, width=TABLE_WIDTH if out is not None else None).print(table)


def top_signals(counts: dict[str, int], limit: int = TOP_SIGNALS) -> str:
    """'disengagement.escalation×2, execution.loops.retry' (layer prefix kept for execution/env)."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    text = ", ".join(f"{_short(kind)}×{n}" if n > 1 else _short(kind) for kind, n in ranked)
    return text + (f" (+{len(counts) - limit})" if len(counts) > limit else "")


def _table_cells(report: TrajectoryReport | ReportRow) -> tuple[str, ...]:
    style = QUALITY_STYLES.get(report.quality, "white")
    return (report.id, f"[{style}]{report.quality}[/]", f"{report.quality_score:.1f}",
            f"{report.triage_score:.2f}", str(report.events), top_signals(report.counts),
            "; ".join(report.reasons[:TOP_REASONS]))


def _short(signal_type: str) -> str:
    return signal_type.removeprefix("interaction.")


def _signal_row(signal: Signal) -> SignalRow:
    return SignalRow(type=signal.type, index=signal.index, confidence=signal.confidence,
                     snippet=signal.snippet, tool=signal.tool, metadata=signal.metadata)
