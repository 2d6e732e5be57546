"""The read operations the CLI asks for, callable in-process or behind the worker's HTTP endpoint.

``execute(client, op, params)`` with op in sample | export | stats | alerts | rates and params a JSON object of
``sinks.selection.Selection`` fields; returns JSON-safe rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sinks.alerts import alerts_for
from sinks.config import database_name
from sinks.dashboard import hourly_rates
from sinks.queries import export, stats
from sinks.sampling import sample
from sinks.selection import Selection, selection_from

OPS: Final[dict[str, Callable[[Any, Selection, str], list[dict[str, Any]]]]] = {
    "sample": sample,
    "export": export,
    "stats": stats,
    "alerts": alerts_for,
    "rates": hourly_rates,
}


class QueryError(ValueError):
    """Bad op or parameters (the caller's fault, not ClickHouse's)."""


def execute(client: Any, op: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    if op not in OPS:
        raise QueryError(f"op must be one of {', '.join(OPS)}, got {op!r}")
    try:
        selection = selection_from(params)
        database = database_name(selection.database or None)
    except ValueError as error:
        raise QueryError(str(error)) from error
    return OPS[op](client, selection, database)
