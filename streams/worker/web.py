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
from pathlib import Path
from typing import Any

import faust

from sinks.config import chdb_path
from sinks.gateway import WORKER_FILE, advertise, withdraw
from sinks.queries import final_count, landed_since
from sinks.service import QueryError, execute, parse_body
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


def marker_path(clickhouse: WorkerClickHouse) -> Path | None:
    path = chdb_path(clickhouse.dsn)
    return Path(path) / WORKER_FILE if path else None


def local_host(host: str) -> str:
    """Where this machine reaches a server bound to ``host``."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::", "localhost") else host


async def wait_for_port(port: int, timeout: float = 60.0, host: str = "127.0.0.1") -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            _, writer = await asyncio.open_connection(host, port)
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

    _register_review(app, settings, clickhouse)
    _register_marker(app, settings, clickhouse)


class WorkerBackend:
    """The review pages' queries, on the worker's ClickHouse thread."""

    def __init__(self, clickhouse: WorkerClickHouse) -> None:
        self.clickhouse = clickhouse

    async def query(self, op: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return await self.clickhouse.run(answer, self.clickhouse, op, params)


def _register_review(app: Any, settings: Settings, clickhouse: WorkerClickHouse) -> None:
    """The review pages (streams/review) and the token check on the worker's aiohttp application:
    the middleware covers every route of it, ``POST /signals/query`` and Faust's own views included."""
    from streams.review import Review, page_routes
    from streams.review.auth import middleware
    web_app = app.web.web_app  # the aiohttp Application of Faust's aiohttp driver
    web_app.middlewares.append(middleware(settings.web_token))
    review = Review(WorkerBackend(clickhouse), clickhouse.database, settings.web_token, settings.reviewer)
    web_app.router.add_routes(page_routes(review))


def _register_marker(app: Any, settings: Settings, clickhouse: WorkerClickHouse) -> None:
    marker = marker_path(clickhouse)
    if marker is None:
        return
    if settings.web_port <= 0:
        log.warning("web server disabled: other processes cannot query %s while this worker runs", clickhouse.dsn)
        return

    @app.task
    async def advertise_when_listening() -> None:
        host = local_host(settings.web_host)
        if await wait_for_port(settings.web_port, host=host):
            advertise(str(marker.parent), f"http://{host}:{settings.web_port}")

    @app.on_before_shutdown.connect
    async def remove_marker(app: Any, **kwargs: Any) -> None:
        withdraw(marker)
