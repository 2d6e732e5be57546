"""Pure mapping from records and events to ClickHouse row tuples (no I/O).

Column order lists are defined here once; the writer inserts with exactly these names.
Signal snippets arrive redacted by the engine; ``redact_content=True`` (SIGNALS_REDACT_CONTENT=1)
also redacts every string of the stored event payloads and re-redacts the record's signals (records
built by an older pipeline version).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

import msgspec

from detectors.model import Event, TrajectoryReport, category_of
from detectors.redact import redact_signal, redact_value
from sinks.version import row_version

TRAJECTORY_COLUMNS: Final = (
    "trajectory_id", "tenant_id", "agent_id", "app_id", "model", "pipeline_version", "version", "final",
    "quality", "quality_score", "triage_score", "signal_types", "signal_counts", "category_counts",
    "events", "user_turns", "assistant_turns", "tool_calls", "tool_errors", "first_ts", "last_ts", "record",
    "task_key", "request_key", "context_key", "action_sig",
)
SIGNAL_COLUMNS: Final = (
    "trajectory_id", "tenant_id", "agent_id", "pipeline_version", "version", "signal_type", "category",
    "layer", "idx", "confidence", "snippet", "tool", "metadata", "ts",
)
EVENT_COLUMNS: Final = ("trajectory_id", "seq", "kind", "ts", "tenant_id", "agent_id", "payload")

Row = tuple[Any, ...]
EPOCH: Final = 0  # stored for "no timestamp known" (1970-01-01)
TS_RANGE: Final = (-2_208_988_800.0, 10_413_792_000.0)  # 1900-01-01 .. 2300-01-01, DateTime64's range
_json = msgspec.json.Encoder()
_ID_FIELDS: Final = ("kind", "trajectory_id", "agent_id", "app_id", "tenant_id", "model", "tool", "call_id")


def to_ms(ts: float | None) -> int:
    """Unix seconds -> Unix milliseconds (floored), the DateTime64(3) columns' ticks: the client
    writes ints as they are, where a datetime costs a conversion per value. Unknown, NaN or outside
    DateTime64's years 1900-2299 -> EPOCH."""
    if ts is None or not TS_RANGE[0] <= ts < TS_RANGE[1]:
        return EPOCH
    return math.floor(ts * 1000)


_category = functools.lru_cache(maxsize=1024)(category_of)  # a few dozen types, one lookup per signal


def category_totals(counts: Mapping[str, int]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for signal_type, n in counts.items():
        category = _category(signal_type)
        totals[category] = totals.get(category, 0) + n
    return totals


def redacted(report: TrajectoryReport) -> TrajectoryReport:
    """The report with every signal's snippet and string metadata redacted."""
    signals = [redact_signal(s) for s in report.signals]
    if all(a is b for a, b in zip(signals, report.signals, strict=True)):
        return report
    return msgspec.structs.replace(report, signals=signals)


def trajectory_row(report: TrajectoryReport, *, redact_content: bool = False) -> tuple[Any, ...]:
    r = redacted(report) if redact_content else report
    return (
        r.id, r.tenant_id, r.agent_id, r.app_id, r.model, r.pipeline_version,
        row_version(r.pipeline_version, r.events, r.final), int(r.final), r.quality,
        r.quality_score, r.triage_score, sorted(r.counts), dict(r.counts), category_totals(r.counts),
        r.events, r.user_turns, r.assistant_turns, r.tool_calls, r.tool_errors,
        to_ms(r.first_ts), to_ms(r.last_ts), _json.encode(r).decode(),
        r.task_key, r.request_key, r.context_key, r.action_sig,
    )


def signal_rows(report: TrajectoryReport, ts_by_seq: Mapping[int, float | None] | None = None, *,
                redact_content: bool = False) -> list[tuple[Any, ...]]:
    """One row per signal instance; ``ts`` is its event's time when ``ts_by_seq`` knows it, else the
    record's last event time. Every command writes records apart from events (records do not carry
    event times), so on every path signal rows are dated from the record: the same rows."""
    r = redacted(report) if redact_content else report
    version = row_version(r.pipeline_version, r.events, r.final)
    times = ts_by_seq or {}
    return [
        (
            r.id, r.tenant_id, r.agent_id, r.pipeline_version, version, s.type, _category(s.type),
            s.type.split(".", 1)[0], max(s.index, 0), s.confidence, s.snippet, s.tool,
            _json.encode(s.metadata).decode(), to_ms(_known(times.get(s.index), r.last_ts)),
        )
        for s in r.signals
    ]


def _known(ts: float | None, fallback: float | None) -> float | None:
    return fallback if ts is None else ts


def event_rows(events: Iterable[Event], *, redact_content: bool = False) -> list[tuple[Any, ...]]:
    payload = _redacted_payload if redact_content else _payload
    return [
        (e.trajectory_id, e.seq, type(e).__struct_config__.tag, to_ms(e.ts), e.tenant_id, e.agent_id,
         payload(e))
        for e in events
    ]


def _payload(event: Event) -> str:
    return _json.encode(event).decode()


def _redacted_payload(event: Event) -> str:
    """Every string value redacted (texts, results, arguments, attributes); ids and keys kept."""
    fields = msgspec.to_builtins(event)
    kept = {name: fields.pop(name) for name in _ID_FIELDS if name in fields}
    return _json.encode({**kept, **redact_value(fields)}).decode()


def timestamps(events: Iterable[Event]) -> dict[str, dict[int, float | None]]:
    """trajectory id -> seq -> event time, to date signal rows."""
    out: dict[str, dict[int, float | None]] = {}
    for event in events:
        out.setdefault(event.trajectory_id, {})[event.seq] = event.ts
    return out
