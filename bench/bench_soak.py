"""Soak benchmark (not a test): one worker under a steady produce rate for a long time.

    .venv/bin/python bench/bench_soak.py --kafka kafka://127.0.0.1:9092 [--minutes 10] [--rate 2000]

The worker is a subprocess (``--store`` default rocksdb, ClickHouse sink into a temporary chDB
path unless ``--no-sink``). Every ``--every`` seconds it samples the worker's RSS (/proc/<pid>/status VmRSS) and the
consumer-group lag (end offsets minus committed offsets) on the events and trajectories topics,
prints a table, then the RSS slope (MB/min, least squares over the run after the first minute) and
the maximum lag. The claim to check: flat memory, bounded lag. Closed sessions are kept for
``SIGNALS_CLOSED_RETENTION_S`` (default 3600 s) and that state grows until retention starts dropping
it: run with e.g. ``SIGNALS_CLOSED_RETENTION_S=60`` to see the steady state within minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.builders

from detectors.adapters import Trajectory
from streams.cli.commands.produce import produce
from streams.settings import Settings
from tests.builders import A, C, R, U, conv

REPO = Path(__file__).resolve().parents[1]
FILLER = "please check the itinerary details and confirm the fare class for each segment of my trip "


def endless(prefix: str) -> Iterator[Trajectory]:
    """~20-event trajectories (19 + SessionEnd) with corrections, tool errors and gratitude, forever."""
    i = 0
    while True:
        tid, specs = f"{prefix}-{i}", []
        for turn in range(4):
            specs += [U("No, that's wrong, I meant Paris" if turn == 2 else f"{FILLER[:120]} turn {turn}"),
                      A(FILLER[:150]), C("search_flights", {"to": "PAR", "turn": turn % 2}, call_id=f"c{turn}"),
                      R("error: timeout" if turn == 1 else FILLER[:140], call_id=f"c{turn}")]
        specs += [U("thanks, that works"), A("You're welcome"), U("bye")]
        yield Trajectory(id=tid, events=conv(tid, *specs, start_ts=time.time()))
        i += 1


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Lag:
    """Consumer-group lag per topic: sum over partitions of end offset - committed offset."""

    def __init__(self, bootstrap: str, group: str) -> None:
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.group = group

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()

    async def of(self, topic: str) -> int:
        [described] = await self.admin.describe_topics([topic])
        partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        if not partitions:
            return 0
        ends = await self.consumer.end_offsets(partitions)
        committed = await self.admin.list_consumer_group_offsets(self.group, partitions=partitions)
        return sum(end - max(0, committed[tp].offset if tp in committed else 0) for tp, end in ends.items())

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) in MB per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t, mean_m = sum(t for t, _ in samples) / n, sum(m for _, m in samples) / n
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    return cov / var * 60 if var else 0.0


def start_worker(kafka: str, names: dict[str, str], data: Path, store: str, sink: bool) -> subprocess.Popen[bytes]:
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in names.items()]
    argv = [sys.executable, "-m", "streams.cli.commands.worker", f"--kafka={kafka}", f"--store={store}",
            f"--data-dir={data}", f"--clickhouse=chdb://{data / 'ch'}", "--web-port=0", "--metrics-port=0",
            "--idle-close=30", f"--sink={str(sink).lower()}", *flags]
    log = open(data / "worker.log", "wb")  # noqa: SIM115 - lives as long as the worker
    return subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)


async def soak(kafka: str, minutes: float, rate: float, every: float, store: str, sink: bool) -> None:
    tag = uuid.uuid4().hex[:8]
    names = {"app_id": f"soak-{tag}", "topic_events": f"soak-ev-{tag}", "topic_signals": f"soak-sig-{tag}",
             "topic_trajectories": f"soak-traj-{tag}", "topic_dlq": f"soak-dlq-{tag}"}
    settings = Settings.from_env({"kafka": kafka, "topic_events": names["topic_events"]})
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        worker = start_worker(kafka, names, Path(tmp), store, sink)
        lag = Lag(kafka.split("://")[-1], names["app_id"])
        await asyncio.sleep(6)  # joined and migrated before the stream starts
        await lag.start()
        producer = asyncio.create_task(produce(settings, endless(f"soak-{tag}"), batch=1, rate=rate))
        samples: list[tuple[float, float, int, int]] = []
        started = time.monotonic()
        print(f"{'t (s)':>7} {'RSS MB':>8} {'events lag':>11} {'records lag':>12}", flush=True)
        try:
            while time.monotonic() - started < minutes * 60:
                await asyncio.sleep(every)
                assert worker.poll() is None, f"worker exited ({worker.returncode}); see {tmp}/worker.log"
                row = (time.monotonic() - started, rss_mb(worker.pid), await lag.of(names["topic_events"]),
                       await lag.of(names["topic_trajectories"]))
                samples.append(row)
                print(f"{row[0]:7.0f} {row[1]:8.1f} {row[2]:11,d} {row[3]:12,d}", flush=True)
        finally:
            producer.cancel()
            await lag.stop()
            worker.kill()
            worker.wait(timeout=30)
        report(samples, rate)


def report(samples: list[tuple[float, float, int, int]], rate: float) -> None:
    warm = [(t, m) for t, m, _, _ in samples if t >= 60] or [(t, m) for t, m, _, _ in samples]
    print(f"\nrate {rate:,.0f} events/s, {len(samples)} samples over {samples[-1][0] / 60:.1f} min")
    print(f"RSS: first {samples[0][1]:.1f} MB, last {samples[-1][1]:.1f} MB, max {max(s[1] for s in samples):.1f} MB; "
          f"slope after the first minute {slope_mb_per_min(warm):+.2f} MB/min "
          f"(whole run {slope_mb_per_min([(t, m) for t, m, _, _ in samples]):+.2f} MB/min, "
          f"second half {slope_mb_per_min([(t, m) for t, m, _, _ in samples[len(samples) // 2:]]):+.2f} MB/min)")
    print(f"lag: events max {max(s[2] for s in samples):,d} (last {samples[-1][2]:,d}), "
          f"records max {max(s[3] for s in samples):,d} (last {samples[-1][3]:,d})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kafka", default="kafka://127.0.0.1:9092")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=2000.0, help="events per second (one per message)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--store", default="rocksdb://")
    parser.add_argument("--no-sink", action="store_true", help="no ClickHouse sink (isolates the ingest agent)")
    args = parser.parse_args()
    asyncio.run(soak(args.kafka, args.minutes, args.rate, args.every, args.store, not args.no_sink))


if __name__ == "__main__":
    main()
