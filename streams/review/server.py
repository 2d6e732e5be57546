"""`signals serve`: the review pages on their own port, over the settings' ClickHouse.

When a worker holds the embedded chDB path, every query goes through it (``sinks.gateway``, with the
token). Otherwise this server opens the DSN itself, keeps one client on one thread for its lifetime,
applies the schema (the labels table), and, on a chDB path, advertises itself as a worker does
(``.signals-worker.json``), so `signals sample`, `export` and `stats` query through it meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web

from sinks.client import ClientHolder, factory
from sinks.config import chdb_path, database_name
from sinks.gateway import advertise, post, run_direct, withdraw, worker_url
from sinks.migrate import migrate
from streams.review.routes import Review, application

Rows = list[dict[str, Any]]


class DirectBackend:
    """The DSN opened by this process: one client, one thread (chDB is synchronous)."""

    def __init__(self, dsn: str, database: str) -> None:
        self.dsn, self.database = dsn, database
        self.holder = ClientHolder(factory(dsn))
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="review-clickhouse")

    def _run(self, op: str, params: dict[str, Any]) -> Rows:
        try:
            return run_direct(self.holder.get(), op, params, self.dsn)
        except ConnectionError:
            self.holder.reset()
            raise

    async def query(self, op: str, params: dict[str, Any]) -> Rows:
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._run, op, params)

    async def prepare(self) -> None:
        await asyncio.get_running_loop().run_in_executor(
            self.executor, lambda: migrate(self.holder.get(), self.database))

    def close(self) -> None:
        self.executor.submit(self.holder.close).result(timeout=30)
        self.executor.shutdown()


class WorkerBackend:
    """Queries through the web server of the worker that holds the chDB path."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    async def query(self, op: str, params: dict[str, Any]) -> Rows:
        return await asyncio.to_thread(post, self.url, op, params, self.token)

    async def prepare(self) -> None:
        return None

    def close(self) -> None:
        return None


def advertised_url(host: str, port: int) -> str:
    local = host in ("", "0.0.0.0", "::", "localhost")
    return f"http://{'127.0.0.1' if local else host}:{port}"


async def serve(dsn: str, database: str, *, host: str, port: int, token: str, reviewer: str,
                started: Callable[[str], None] = lambda url: None, stop: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set (or the task is cancelled); ``started(url)`` once it listens."""
    url = worker_url(dsn)
    backend: DirectBackend | WorkerBackend = WorkerBackend(url, token) if url else DirectBackend(dsn, database_name(database))
    await backend.prepare()
    runner = web.AppRunner(application(Review(backend, database_name(database), token, reviewer)), access_log=None)
    await runner.setup()
    marker: Path | None = None
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        own_url = advertised_url(host, int(runner.addresses[0][1]))
        path = chdb_path(dsn)
        if isinstance(backend, DirectBackend) and path:
            marker = advertise(path, own_url)
        started(own_url)
        await (stop or asyncio.Event()).wait()
    finally:
        if marker is not None:
            withdraw(marker)
        await runner.cleanup()
        with contextlib.suppress(Exception):
            backend.close()
