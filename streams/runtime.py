"""Process-wide runtime tuning of the long-running commands (worker, replay, load): the garbage collector.

The event path allocates many short-lived objects per event (decoded events, token lists, futures
of the Kafka client); with Python's default young-generation threshold (700 allocations) the cyclic
collector runs every few events and its older-generation passes walk every object of Faust,
aiokafka and the engine loaded at startup. ``tune_gc`` moves what exists at the call (imports, the
app, the detectors' tables) to the permanent generation (``gc.freeze``: the collector no longer
walks it) and raises the young threshold to ``SIGNALS_GC_YOUNG_THRESHOLD`` (default 10,000). Cyclic
garbage is still collected, in fewer, larger passes; reference counting frees everything else at
once as before. Measured in bench/bench_ceiling.py (README "Measured").
"""

from __future__ import annotations

import gc

from streams.settings import Settings


def tune_gc(settings: Settings) -> tuple[int, int, int]:
    """Freeze the objects alive now and set the young-generation threshold (0: Python's settings
    are left as they are). Returns the thresholds in force afterwards."""
    if settings.gc_young_threshold > 0:
        gc.collect()  # what is garbage already is not frozen
        gc.freeze()
        _, middle, old = gc.get_threshold()
        gc.set_threshold(settings.gc_young_threshold, middle, old)
    young, middle, old = gc.get_threshold()
    return young, middle, old
