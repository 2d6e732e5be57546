"""Share of failed trajectories in a 20-trajectory sample, by strategy (the paper's comparison).

    .venv/bin/python bench/bench_sampling.py [PATH] [--n 20] [--seeds 10]

Loads a labelled τ-bench file into a fresh embedded ClickHouse with `signals load`, then runs
`signals sample` per strategy (random and heuristic averaged over several seeds) and reports the
share of sampled trajectories whose reward < 1, next to the file's base rate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "shared/data/tau-bench/gpt-4o-airline-dev.json"


def signals(dsn: str, *args: str) -> str:
    command = [sys.executable, "-m", "streams.cli", *args]
    result = subprocess.run(command, capture_output=True, text=True, env={"SIGNALS_CLICKHOUSE": dsn, "PATH": ""},
                            check=True)
    return result.stdout


def failed_share(dsn: str, strategy: str, n: int, seed: int, failed: dict[str, bool]) -> tuple[float, int]:
    out = signals(dsn, "sample", "--strategy", strategy, "--n", str(n), "--seed", str(seed), "--format", "jsonl")
    ids = [json.loads(line)["id"] for line in out.splitlines() if line.strip()]
    return sum(failed[i] for i in ids) / max(len(ids), 1), len(set(ids))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=str(DEFAULT_PATH))
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    records = json.loads(Path(args.path).read_text())
    failed = {f"{r['task_id']}-{r['trial']}": r["reward"] < 1 for r in records}
    with tempfile.TemporaryDirectory() as tmp:
        dsn = f"chdb://{tmp}/ch"
        signals(dsn, "load", args.path)
        print(f"{len(failed)} trajectories, base rate of failure {sum(failed.values()) / len(failed):.2f}")
        for strategy in ("signals", "heuristic", "random", "stratified", "diverse"):
            seeds = range(args.seeds) if strategy in ("random",) else [0]
            runs = [failed_share(dsn, strategy, args.n, seed, failed) for seed in seeds]
            shares = [share for share, _ in runs]
            spread = f" (min {min(shares):.2f}, max {max(shares):.2f} over {len(shares)} seeds)" if len(shares) > 1 else ""
            print(f"{strategy:>10}: failed share {statistics.mean(shares):.2f} of {runs[0][1]} distinct{spread}")


if __name__ == "__main__":
    main()
