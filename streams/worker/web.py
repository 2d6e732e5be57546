"""The query web view: ``POST /signals/query`` answered with the worker's own ClickHouse client.

An extension for ``build_app`` (after ``streams.worker.sink_agent.register_sink``, whose ``WorkerClickHouse`` it
uses, so queries run on the same ClickHouse thread as the writes). The contract is the one
``sinks.gateway`` speaks: body {"op", "params"} -> 200 {"rows": [...]}, bad input -> 400
{"error": msg}, ClickHouse failures -> 503 {"error": msg}. Besides the ``sinks.service`` ops, op
``landed`` with params {"ids": [...]} counts those trajectories whose final record is stored
(``signals demo`` waits on it; with "since_ms", only records inserted since, and when the last was).

When the DSN is ``chdb://PATH`` the worker owns PATH, so it advertises itself in
``PATH/.signals-worker.json`` = {"pid", "url"} once its web server answers, and removes the file
at shutdown; the CLI's read commands then go through this view instead of opening the path.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

import faust

from sinks.config import chdb_path
from sinks.gateway import WORKER_FILE
from sinks.queries import final_count, landed_since
from sinks.service import QueryError, execute
from streams.settings import Settings
from streams.worker.sink_agent import WorkerClickHouse
from streams.worker.topics import Topics

log = logging.getLogger("signals.web")
ROUTE = "/signals/query"
LANDED = "landed"


def answer(clickhouse: WorkerClickHouse, op: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Runs on the ClickHouse thread."""
    client = clickhouse.reader.get()
    if op == LANDED:
        return [landed(client, clickhouse.database, params)]
    return execute(client, op, params)


def landed(client: Any, database: str, params: dict[str, Any]) -> dict[str, int]:
    """{"final": n} stored final records of params.ids; with params.since_ms (the server's clock)
    only those inserted since, plus "last_ms" (the newest such insert) and "now_ms"."""
    ids, since = params.get("ids"), params.get("since_ms")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise QueryError("landed needs params.ids, a list of trajectory ids")
    if since is None:
        return {"final": final_count(client, database, ids)}
    if not isinstance(since, int) or isinstance(since, bool):
        raise QueryError("landed params.since_ms must be an integer (ms since the epoch)")
    return landed_since(client, database, ids, since)


def parse_body(body: bytes) -> tuple[str, dict[str, Any]]:
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


def marker_path(clickhouse: WorkerClickHouse) -> Path | None:
    path = chdb_path(clickhouse.dsn)
    return Path(path) / WORKER_FILE if path else None


async def wait_for_port(port: int, timeout: float = 60.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        writer.close()
        return True
    return False


def register_web(app: Any, topics: Topics, settings: Settings) -> None:
    found: WorkerClickHouse | None = getattr(app, "clickhouse", None)
    if found is None:
        return
    clickhouse = found  # not None in the view below

    @app.page(ROUTE)
    class Query(faust.web.View):
        async def post(self, request: Any) -> Any:
            try:
                op, params = parse_body(await request.read())
                rows = await clickhouse.run(answer, clickhouse, op, params)
            except QueryError as error:
                return self.error(400, str(error))
            except Exception as error:  # ClickHouse down or failing
                return self.error(503, f"ClickHouse: {error}")
            body = json.dumps({"rows": rows}, default=str).encode()
            return self.bytes(body, content_type="application/json")

    _register_marker(app, settings, clickhouse)


def _register_marker(app: Any, settings: Settings, clickhouse: WorkerClickHouse) -> None:
    marker = marker_path(clickhouse)
    if marker is None:
        return
    if settings.web_port <= 0:
        log.warning("web server disabled: other processes cannot query %s while this worker runs", clickhouse.dsn)
        return

    @app.task
    async def advertise() -> None:
        if await wait_for_port(settings.web_port):
            marker.parent.mkdir(parents=True, exist_ok=True)
            url = f"http://127.0.0.1:{settings.web_port}"
            marker.write_text(json.dumps({"pid": os.getpid(), "url": url}))

    @app.on_before_shutdown.connect
    async def withdraw(app: Any, **kwargs: Any) -> None:
        remove_marker(marker)


def remove_marker(marker: Path) -> None:
    try:
        if json.loads(marker.read_text()).get("pid") == os.getpid():
            marker.unlink()
    except (OSError, ValueError):
        pass
