"""Client side of read queries: go through the worker that holds a chDB path, else open the DSN.

chDB allows one process per data path. A worker holding ``chdb://PATH`` writes
``PATH/.signals-worker.json`` = {"pid": int, "url": "http://127.0.0.1:PORT"} and answers
``POST {url}/signals/query`` with body {"op", "params"} -> {"rows": [...]} via sinks.service.execute
(``signals serve`` holding the path does the same). When the server wants a token (SIGNALS_WEB_TOKEN),
the client sends it as ``Authorization: Bearer``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Final

from sinks.client import DatabaseError, connect
from sinks.config import chdb_path, resolve_dsn
from sinks.service import QueryError, execute

WORKER_FILE: Final = ".signals-worker.json"
TIMEOUT_S: Final = 120.0


def worker_url(dsn: str) -> str | None:
    """The URL of a live worker holding this chDB path, if any."""
    path = chdb_path(dsn)
    marker = Path(path) / WORKER_FILE if path else None
    if marker is None or not marker.is_file():
        return None
    try:
        info = json.loads(marker.read_text())
        pid, url = int(info["pid"]), str(info["url"])
    except (ValueError, KeyError, TypeError, OSError):
        return None
    return url if pid_alive(pid) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def advertise(path: str, url: str) -> Path:
    """Say that this process answers queries for the chDB data directory ``path`` at ``url``."""
    marker = Path(path) / WORKER_FILE
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"pid": os.getpid(), "url": url}))
    return marker


def withdraw(marker: Path) -> None:
    """Remove the marker if this process wrote it."""
    try:
        if json.loads(marker.read_text()).get("pid") == os.getpid():
            marker.unlink()
    except (OSError, ValueError):
        pass


def query(dsn: str, op: str, params: dict[str, Any], token: str = "") -> list[dict[str, Any]]:
    resolved = resolve_dsn(dsn)
    url = worker_url(resolved)
    if url is not None:
        return post(url, op, params, token)
    client = connect(resolved)
    try:
        return run_direct(client, op, params, resolved)
    finally:
        client.close()


def run_direct(client: Any, op: str, params: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """``execute`` on an open client; a database or table that does not exist yet is ``NotMigrated``."""
    try:
        return execute(client, op, params)
    except DatabaseError as error:
        if any(code in str(error) for code in ("UNKNOWN_DATABASE", "UNKNOWN_TABLE")):
            raise NotMigrated(f"{where} has no signals tables yet") from error
        raise


class NotMigrated(LookupError):
    """The database or its tables do not exist yet (nothing loaded, no migration run)."""


def post(url: str, op: str, params: dict[str, Any], token: str = "") -> list[dict[str, Any]]:
    body = json.dumps({"op": op, "params": params}).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url.rstrip("/") + "/signals/query", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return list(json.loads(response.read())["rows"])
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        if error.code == 400:
            raise QueryError(detail) from error
        if error.code == 401:
            raise PermissionError(f"{url} wants a token: set SIGNALS_WEB_TOKEN (or _FILE) as the server has it") from error
        raise ConnectionError(f"worker at {url} answered {error.code}: {detail}") from error
