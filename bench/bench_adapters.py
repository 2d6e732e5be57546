"""Time adapting a trajectory file to events (default: the τ-bench dev file; not a test).

    .venv/bin/python bench/bench_adapters.py [PATH] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from detectors.adapters.detect import parse_trajectories

DEFAULT = str(Path(__file__).resolve().parents[2] / "shared/data/tau-bench/gpt-4o-airline-dev.json")  # beside the repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    data = Path(args.path).read_bytes()
    timings, trajectories = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        trajectories = list(parse_trajectories(data, source=args.path, stem=Path(args.path).stem))
        timings.append(time.perf_counter() - start)
    events = sum(len(t.events) for t in trajectories)
    print(f"{args.path}: {len(data) / 1e6:.2f} MB, {len(trajectories)} trajectories, {events} events")
    print(f"adapt (decode + convert), {args.repeat} runs: median {statistics.median(timings) * 1e3:.1f} ms, "
          f"min {min(timings) * 1e3:.1f} ms, max {max(timings) * 1e3:.1f} ms "
          f"({events / statistics.median(timings):,.0f} events/s)")


if __name__ == "__main__":
    main()
