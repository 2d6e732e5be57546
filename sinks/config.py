"""Where ClickHouse is: DSN, database and retention, from the environment with safe defaults.

- ``SIGNALS_CLICKHOUSE``: ``chdb:///abs/path`` (embedded, one process per path) or
  ``http(s)://user:pass@host:8123``; default ``chdb://./data/clickhouse`` resolved to an absolute path.
- ``SIGNALS_CLICKHOUSE_DATABASE``: database name, default ``signals``.
- ``SIGNALS_CLICKHOUSE_TTL_DAYS``: keep rows this many days after insertion; unset = forever.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final

DEFAULT_DSN: Final = "chdb://./data/clickhouse"
DEFAULT_DATABASE: Final = "signals"
CHDB_SCHEME: Final = "chdb://"
_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def resolve_dsn(dsn: str | None = None) -> str:
    """The DSN to use; a relative chdb path becomes absolute (chDB needs one stable path)."""
    raw = dsn or os.environ.get("SIGNALS_CLICKHOUSE") or DEFAULT_DSN
    path = chdb_path(raw)
    return raw if path is None else CHDB_SCHEME + str(Path(path).expanduser().resolve())


def chdb_path(dsn: str) -> str | None:
    """The data directory of a ``chdb://`` DSN, or None for a server DSN."""
    return dsn[len(CHDB_SCHEME):] if dsn.startswith(CHDB_SCHEME) else None


def database_name(name: str | None = None) -> str:
    """The database, validated as a plain identifier (it is spliced into DDL, never user SQL)."""
    value = name or os.environ.get("SIGNALS_CLICKHOUSE_DATABASE") or DEFAULT_DATABASE
    if not _IDENTIFIER.match(value):
        raise ValueError(f"database name must match {_IDENTIFIER.pattern}, got {value!r}")
    return value


def ttl_days(value: str | None = None) -> int | None:
    raw = value if value is not None else os.environ.get("SIGNALS_CLICKHOUSE_TTL_DAYS", "")
    if not raw.strip():
        return None
    days = int(raw)
    if days <= 0:
        raise ValueError(f"TTL must be a positive number of days, got {raw!r}")
    return days
