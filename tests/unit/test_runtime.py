"""streams.runtime.tune_gc: the collector settings of the long-running commands."""

from __future__ import annotations

import gc

import pytest

from streams.errors import CliError
from streams.runtime import tune_gc
from streams.settings import Settings


@pytest.fixture
def python_gc():
    """Whatever a test does to the collector is undone after it."""
    before = gc.get_threshold()
    yield before
    gc.unfreeze()
    gc.set_threshold(*before)


def test_the_young_threshold_is_raised_and_what_exists_is_frozen(python_gc) -> None:
    gc.unfreeze()
    alive: list[list[int]] = [[]]  # a container that exists before the call (the collector tracks it)
    assert any(found is alive for found in gc.get_objects())
    assert tune_gc(Settings(gc_young_threshold=12_345)) == (12_345, *python_gc[1:])
    assert gc.get_threshold() == (12_345, *python_gc[1:])
    assert gc.get_freeze_count() > 0
    assert not any(found is alive for found in gc.get_objects())  # frozen: no collection walks it any more


def test_zero_leaves_pythons_collector_as_it_is(python_gc) -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    assert tune_gc(Settings(gc_young_threshold=0)) == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_a_negative_threshold_is_refused_with_the_fix() -> None:
    with pytest.raises(CliError) as raised:
        Settings.from_env({"gc_young_threshold": -1})
    assert "SIGNALS_GC_YOUNG_THRESHOLD >= 0" in str(raised.value) and "0 to keep" in str(raised.value)
