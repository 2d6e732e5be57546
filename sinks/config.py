"""Where ClickHouse is: DSN and database checks. Pure: values come from the caller (the
``Settings`` of ``streams/settings.py``); nothing here reads the environment.

- a DSN is ``chdb:///abs/path`` (embedded, one process per path) or ``http(s)://user:pass@host:8123``;
  a relative chdb path is made absolute (chDB needs one stable path);
- the database name is validated as a plain identifier (it is spliced into DDL).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

DEFAULT_DATABASE: Final = "signals"
CHDB_SCHEME: Final = "chdb://"
_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def resolve_dsn(dsn: str) -> str:
    """The DSN to use; a relative chdb path becomes absolute."""
    path = chdb_path(dsn)
    return dsn if path is None else CHDB_SCHEME + str(Path(path).expanduser().resolve())


def chdb_path(dsn: str) -> str | None:
    """The data directory of a ``chdb://`` DSN, or None for a server DSN."""
    return dsn[len(CHDB_SCHEME):] if dsn.startswith(CHDB_SCHEME) else None


def database_name(name: str | None = None) -> str:
    """The database (``DEFAULT_DATABASE`` when not given), validated as a plain identifier."""
    value = name or DEFAULT_DATABASE
    if not _IDENTIFIER.match(value):
        raise ValueError(f"database name must match {_IDENTIFIER.pattern}, got {value!r}")
    return value
