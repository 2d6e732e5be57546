"""Spike detector benchmark (not a test; prints figures).

    .venv/bin/python bench/bench_alerts.py [--signals 1000000] [--agents 200] [--partitions 4]

Feeds synthetic signals (agents x 8 categories, 4 partitions, event time advancing ~1 s per 50 signals,
a few spikes) through ``streams.alerts.SpikeDetector`` one at a time and in sorted batches of 500,
and prints signals/s, alerts, keys held at the end and the late/evicted counters.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streams.alerts import AlertConfig, SpikeDetector

CATEGORIES = ("execution.failure", "execution.loops", "environment.exhaustion", "interaction.misalignment",
              "interaction.stagnation", "interaction.disengagement", "interaction.satisfaction",
              "execution.consistency")


def signals(count: int, agents: int, partitions: int, seed: int = 1) -> list[tuple[int, str, str, float]]:
    rng, out, t0 = random.Random(seed), [], 1_700_000_000.0
    for i in range(count):
        ts = t0 + i / 50 + rng.random() * 5  # a little disorder, well inside the grace
        agent = f"agent-{rng.randrange(agents)}"
        category = CATEGORIES[rng.randrange(len(CATEGORIES))]
        if (i // 20_000) % 7 == 3 and rng.random() < 0.5:  # now and then one key spikes
            agent, category = "agent-0", "execution.failure"
        out.append((rng.randrange(partitions), agent, category, ts))
    return out


def run(items: list[tuple[int, str, str, float]], partitions: int, batch: int) -> tuple[float, SpikeDetector, int]:
    detector = SpikeDetector(AlertConfig(), range(partitions))
    alerts, started = 0, time.perf_counter()
    if batch <= 1:
        for partition, agent, category, ts in items:
            alerts += len(detector.observe(partition, agent, category, ts))
    else:
        by_partition: dict[int, list[tuple[str, str, float | None]]] = {}
        for start in range(0, len(items), batch):
            by_partition.clear()
            for partition, agent, category, ts in items[start:start + batch]:
                by_partition.setdefault(partition, []).append((agent, category, ts))
            for partition, chunk in by_partition.items():
                alerts += len(detector.observe_batch(partition, chunk))
    for partition in range(partitions):
        alerts += len(detector.set_idle(partition))
    return time.perf_counter() - started, detector, alerts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--signals", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    items = signals(args.signals, args.agents, args.partitions)
    for batch in (1, 500):
        seconds, detector, alerts = run(items, args.partitions, batch)
        c = detector.counters
        print(f"batch {batch:>4}: {len(items) / seconds:>10,.0f} signals/s ({seconds:.2f}s); alerts {alerts}, "
              f"keys at the end {len(detector.keys)}, late {c.late}, evicted keys {c.evicted_keys}, "
              f"windows closed {c.closed_windows}")


if __name__ == "__main__":
    main()
