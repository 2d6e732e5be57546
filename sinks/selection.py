"""What to sample: strategy, budget, seed and filters, turned into a WHERE clause with bound params.

User values never enter SQL text: each filter adds a fixed fragment with a ``{name:Type}``
placeholder, and the value goes to clickhouse-connect's ``parameters=``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Literal

import msgspec

from detectors.model import CATEGORIES

Strategy = Literal["signals", "heuristic", "random", "stratified", "diverse"]
STRATEGIES: Final[tuple[str, ...]] = ("signals", "heuristic", "random", "stratified", "diverse")
MAX_N: Final = 100_000


class Selection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    strategy: Strategy = "signals"
    n: int = 50
    seed: int = 0
    agent: str = ""
    tenant: str = ""
    since: str = ""  # ISO 8601; naive times are UTC; filters on the trajectory's first event time
    until: str = ""
    quality: str = ""
    signal: str = ""  # a signal type (execution.failure.bad_query) or a category (execution.failure)
    pipeline_version: str = ""  # read that version's records (trajectory_versions) instead of the newest
    database: str = ""


_decode = msgspec.convert


def selection_from(params: dict[str, Any]) -> Selection:
    """Validate a JSON-ish dict (CLI or gateway) into a Selection; ValueError says what is wrong."""
    try:
        selection = _decode(params, Selection)
    except msgspec.ValidationError as error:
        raise ValueError(str(error)) from error
    if not 1 <= selection.n <= MAX_N:
        raise ValueError(f"n must be between 1 and {MAX_N}, got {selection.n}")
    if selection.seed < 0 or selection.seed >= 2**64:
        raise ValueError(f"seed must be a non-negative 64-bit integer, got {selection.seed}")
    for moment in (selection.since, selection.until):
        if moment:
            epoch_ms(moment)
    return selection


def epoch_ms(text: str) -> int:
    """ISO 8601 (``2025-01-31``, ``2025-01-31T12:00:00+02:00``) -> Unix milliseconds; naive = UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise ValueError(f"time must be ISO 8601 like 2025-01-31T12:00:00Z, got {text!r}") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


# The sorting key of each table (sinks/schema/001_core.sql): the rows FINAL collapses are the rows
# with the same key (every version of a trajectory has the same one, docs/sampling.md); sampling
# keeps the newest row of each key without FINAL, and reads the keyed trajectories' FINAL by key.
SORT_KEYS: Final = {
    "trajectories": "(tenant_id, agent_id, toDate(first_ts), xxHash32(trajectory_id), trajectory_id)",
    "trajectory_versions": "(trajectory_id, pipeline_version, xxHash32(trajectory_id))",
}


def stored_table(selection: Selection) -> str:
    """The table a selection reads: the newest records, or one pipeline version's."""
    return "trajectory_versions" if selection.pipeline_version else "trajectories"


def source_table(selection: Selection, database: str) -> str:
    return f"{database}.{stored_table(selection)} FINAL"


def where(selection: Selection) -> tuple[str, dict[str, Any]]:
    """``WHERE ...`` (or ``WHERE 1``) and the parameters it binds."""
    s = selection
    conditions: list[str] = []
    params: dict[str, Any] = {}

    def add(fragment: str, name: str, value: Any) -> None:
        conditions.append(fragment)
        params[name] = value

    if s.agent:
        add("agent_id = {agent:String}", "agent", s.agent)
    if s.tenant:
        add("tenant_id = {tenant:String}", "tenant", s.tenant)
    if s.since:
        add("first_ts >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')", "since_ms", epoch_ms(s.since))
    if s.until:
        add("first_ts < fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')", "until_ms", epoch_ms(s.until))
    if s.quality:
        add("quality = {quality:String}", "quality", s.quality)
    if s.signal in CATEGORIES:
        add("mapContains(category_counts, {signal:String})", "signal", s.signal)
    elif s.signal:
        add("has(signal_types, {signal:String})", "signal", s.signal)
    if s.pipeline_version:
        add("pipeline_version = {pipeline_version:String}", "pipeline_version", s.pipeline_version)
    return "WHERE " + (" AND ".join(conditions) or "1"), params
