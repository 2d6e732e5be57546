"""Time to the first review page on the dev data: load the τ-bench dev files into a temporary chDB
(`signals load`), start `signals serve` on it, and time ``GET /`` (the signals queue, 50 rows) and
``GET /t/<id>`` (the top trajectory), cold (the first request) and warm (the median of the next ones).

    python bench/bench_review.py [--data ../shared/data/tau-bench] [--repeat 10]
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def timed_get(url: str) -> tuple[float, str]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        body = response.read().decode()
    return (time.perf_counter() - start) * 1000, body


def measure(url: str, repeat: int, name: str) -> tuple[float, str]:
    """Prints the first and the median of ``repeat`` more requests; returns the first (ms, body)."""
    cold, body = timed_get(url)
    warm = [timed_get(url)[0] for _ in range(repeat)]
    print(f"{name:<14} first {cold:7.1f} ms, then median {statistics.median(warm):7.1f} ms "
          f"(min {min(warm):.1f}, max {max(warm):.1f}, {repeat} requests, {len(body) // 1024} KiB)")
    return cold, body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/tau-bench")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    files = sorted(str(p) for p in Path(args.data).glob("*.json") if not p.name.endswith(".models.json"))
    with tempfile.TemporaryDirectory(prefix="bench-review-") as tmp:
        dsn = f"chdb://{tmp}/ch"
        signals = [sys.executable, "-m", "streams.cli"]
        loaded = subprocess.run([*signals, "load", "--dsn", dsn, *files], capture_output=True, text=True, check=True)
        print(loaded.stdout.strip())
        port = free_port()
        started = time.perf_counter()
        server = subprocess.Popen([*signals, "serve", "--dsn", dsn, "--port", str(port)], stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            print(f"serve listening after {time.perf_counter() - started:.2f} s: {line.strip()}")
            base = f"http://127.0.0.1:{port}"
            _, queue_html = measure(base + "/", args.repeat, "GET /")
            top = re.search(r'<tr data-id="([^"]+)"', queue_html)
            assert top, "the queue is empty"
            measure(f"{base}/t/{top.group(1)}?strategy=signals&n=50&seed=0", args.repeat, "GET /t/<top>")
        finally:
            server.terminate()
            server.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
