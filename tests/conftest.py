"""The root of the test tree: the shared fixtures (``tests/support/``), loaded as plugins for every
test directory."""

from __future__ import annotations

pytest_plugins = ["tests.support.chdb", "tests.support.kafka", "tests.support.worker"]
