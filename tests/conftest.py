"""Fixtures shared by every test directory.

chDB allows ONE data path per process: every in-process use of the embedded ClickHouse in the test
session (sink tests, sampling tests, ``signals demo --in-process``) goes through ``chdb_dsn()``, one
temporary path created on first use and removed at exit. Tests isolate themselves by database.
Worker subprocesses own their own paths (under ``tmp_path``) and are queried through their web view.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile

import pytest


@functools.cache
def chdb_dsn() -> str:
    path = tempfile.mkdtemp(prefix="signals-chdb-test-")
    atexit.register(shutil.rmtree, path, True)
    return f"chdb://{path}"


@pytest.fixture(scope="session")
def chdb_path() -> str:
    """The process's one embedded ClickHouse path (see ``chdb_dsn``)."""
    return chdb_dsn().removeprefix("chdb://")
