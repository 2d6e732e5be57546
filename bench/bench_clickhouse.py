"""Benchmark the ClickHouse sink and sampling on synthetic reports (embedded chDB by default).

    .venv/bin/python bench/bench_clickhouse.py --n 1000000 [--dsn chdb:///tmp/bench-ch] [--batch 100000]

Prints insert rate (rows/s through Sink/BatchWriter, including row building) and the time of a
FINAL count, top-50 by triage for one agent, and 50-row stratified, diverse and random samples.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from collections.abc import Iterator

from detectors.model import SIGNAL_TYPES, Signal, TrajectoryReport
from sinks.client import connect
from sinks.migrate import migrate
from sinks.sampling import sample
from sinks.selection import Selection
from sinks.sink import Sink

QUALITIES = ("excellent", "good", "neutral", "poor", "severe")
START = 1_735_689_600.0  # 2025-01-01


def synthetic(n: int, seed: int = 1) -> Iterator[TrajectoryReport]:
    rng = random.Random(seed)
    for i in range(n):
        types = rng.sample(SIGNAL_TYPES, rng.choice((0, 0, 1, 1, 2, 3, 4)))
        signals = [Signal(type=t, index=rng.randrange(30), snippet="...") for t in types]
        first = START + rng.random() * 86_400 * 90
        yield TrajectoryReport(
            id=f"traj-{i:08d}", quality=rng.choice(QUALITIES), quality_score=rng.random() * 100,
            triage_score=round(rng.random(), 4), signals=signals, counts={t: 1 for t in types},
            pipeline_version="1.0.0", final=True, agent_id=f"agent-{i % 20}", tenant_id=f"tenant-{i % 3}",
            events=rng.randrange(2, 60), tool_calls=rng.randrange(0, 20), tool_errors=rng.randrange(0, 5),
            first_ts=first, last_ts=first + rng.random() * 600,
        )


def timed(label: str, action, repeat: int = 3) -> None:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    print(f"{label:<32} {best * 1000:8.1f} ms  ({len(result) if hasattr(result, '__len__') else result})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--dsn", default="")
    parser.add_argument("--database", default="bench")
    args = parser.parse_args()
    workdir = "" if args.dsn else tempfile.mkdtemp(prefix="bench-ch-")
    dsn = args.dsn or f"chdb://{workdir}"
    client = connect(dsn)
    migrate(client, args.database)
    client.command(f"TRUNCATE TABLE IF EXISTS {args.database}.trajectories")
    sink = Sink(lambda: client, args.database, max_rows=args.batch, max_interval=3600,
                tables=("trajectories", "signals"))
    start = time.perf_counter()
    chunk: list[TrajectoryReport] = []
    for report in synthetic(args.n):
        chunk.append(report)
        if len(chunk) == 10_000:
            sink.write_reports(chunk)
            chunk = []
    sink.write_reports(chunk)
    sink.flush()
    elapsed = time.perf_counter() - start
    print(f"inserted {args.n} trajectories (+ their signal rows) in {elapsed:.1f} s: {args.n / elapsed:,.0f} trajectories/s")
    db = args.database
    timed("FINAL count", lambda: client.query(f"SELECT count() FROM {db}.trajectories FINAL").result_rows[0][0])
    for strategy, extra in (("signals", {"agent": "agent-7"}), ("stratified", {}), ("diverse", {}), ("random", {}),
                            ("heuristic", {})):
        selection = Selection(strategy=strategy, n=50, seed=7, **extra)
        timed(f"{strategy} 50 {extra or ''}", lambda s=selection: sample(client, s, db))
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
