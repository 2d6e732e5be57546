"""The operations the CLI and the review pages ask for, callable in-process or behind a web server.

``execute(client, op, params)`` with params a JSON object; returns JSON-safe rows:
- ``sample``, ``export``, ``stats``, ``alerts``, ``rates``: params are ``sinks.selection.Selection`` fields;
- ``trajectory``: {id, pipeline_version?} -> [{id, record, events, signals}] ([] when unknown);
- ``label``: ``sinks.labels.LabelWrite`` fields -> [the stored label] (the one write);
- ``labels``, ``labelled``: ``sinks.labels.LabelQuery`` fields -> label rows, or labelled trajectories.

The HTTP contract (``POST /signals/query``, body {"op", "params"} -> {"rows": [...]}) is spoken by
``sinks.gateway`` (client), ``streams/worker/web.py`` and ``signals serve`` (servers); ``parse_body``
reads its body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final, TypeVar

import msgspec

from sinks import labels
from sinks.alerts import alerts_for
from sinks.config import database_name
from sinks.dashboard import hourly_rates
from sinks.queries import export, stats, trajectory
from sinks.sampling import sample
from sinks.selection import Selection, selection_from

Rows = list[dict[str, Any]]
P = TypeVar("P")


class QueryError(ValueError):
    """Bad op or parameters (the caller's fault, not ClickHouse's)."""


class TrajectoryQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    pipeline_version: str = ""
    database: str = ""


def _selection_op(run: Callable[[Any, Selection, str], Rows]) -> Callable[[Any, dict[str, Any]], Rows]:
    def op(client: Any, params: dict[str, Any]) -> Rows:
        try:
            selection = selection_from(params)
            database = database_name(selection.database or None)
        except ValueError as error:
            raise QueryError(str(error)) from error
        return run(client, selection, database)
    return op


def _typed(kind: type[P], params: dict[str, Any]) -> tuple[P, str]:
    try:
        value = msgspec.convert(params, kind)
        return value, database_name(getattr(value, "database", "") or None)
    except ValueError as error:  # msgspec.ValidationError is one
        raise QueryError(str(error)) from error


def _trajectory(client: Any, params: dict[str, Any]) -> Rows:
    query, database = _typed(TrajectoryQuery, params)
    return trajectory(client, database, query.id, query.pipeline_version)


def _label(client: Any, params: dict[str, Any]) -> Rows:
    write, database = _typed(labels.LabelWrite, params)
    try:
        write = labels.checked(write)
    except ValueError as error:
        raise QueryError(str(error)) from error
    return [labels.save(client, database, write)]


def _labels(client: Any, params: dict[str, Any]) -> Rows:
    query, database = _typed(labels.LabelQuery, params)
    return labels.labels(client, database, query)


def _labelled(client: Any, params: dict[str, Any]) -> Rows:
    query, database = _typed(labels.LabelQuery, params)
    return labels.labelled(client, database, query)


OPS: Final[dict[str, Callable[[Any, dict[str, Any]], Rows]]] = {
    "sample": _selection_op(sample),
    "export": _selection_op(export),
    "stats": _selection_op(stats),
    "alerts": _selection_op(alerts_for),
    "rates": _selection_op(hourly_rates),
    "trajectory": _trajectory,
    "label": _label,
    "labels": _labels,
    "labelled": _labelled,
}


def execute(client: Any, op: str, params: dict[str, Any]) -> Rows:
    if op not in OPS:
        raise QueryError(f"op must be one of {', '.join(OPS)}, got {op!r}")
    return OPS[op](client, params)


def parse_body(body: bytes) -> tuple[str, dict[str, Any]]:
    """The {"op", "params"} of a request body; QueryError when it is not one."""
    try:
        request = json.loads(body or b"{}")
    except ValueError as error:
        raise QueryError(f"body must be JSON: {error}") from error
    if not isinstance(request, dict) or not isinstance(request.get("op"), str):
        raise QueryError('body must be {"op": str, "params": {...}}')
    params = request.get("params") or {}
    if not isinstance(params, dict):
        raise QueryError("params must be a JSON object")
    return request["op"], params
