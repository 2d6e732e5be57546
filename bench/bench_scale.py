"""Scale benchmark (not a test): memory and disk per OPEN trajectory with the rocksdb store.

    .venv/bin/python bench/bench_scale.py --kafka kafka://127.0.0.1:9092 [--open 10000 50000 100000] [--events 5]
    .venv/bin/python bench/bench_scale.py --state-only      # encoded session state sizes, no Kafka

1. Encoded session state (``Engine.encode_state``) per trajectory after k events, k in 1, 5, 20, 50,
   100: p50 / p90 / max bytes over 200 varied trajectories (in process).
2. For each N: a fresh worker (``--store=rocksdb://``, no ClickHouse sink) consumes N trajectories of
   ``--events`` events each WITHOUT a SessionEnd (idle close disabled), so all N stay open; once the
   group has committed everything: worker RSS (VmRSS) and ``du`` of its Faust data dir, per trajectory.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.builders

from bench.bench_soak import FILLER, Lag, rss_mb
from detectors.model import Event
from detectors.session import DEFAULT_ENGINE, Session
from streams.codec import encode_events
from tests.builders import A, C, R, U, conv

REPO = Path(__file__).resolve().parents[1]


def events(tid: str, count: int, variant: int) -> list[Event]:
    """``count`` events of a support conversation (turns of user, assistant, tool call, tool result)."""
    specs = []
    for turn in range(count // 4 + 1):
        specs += [U("No, that's wrong, I said Paris" if (turn + variant) % 5 == 2 else f"{FILLER[:100]} {turn}"),
                  A(FILLER[: 80 + variant % 60]),
                  C("search_flights", {"to": "PAR", "day": (turn + variant) % 7}, call_id=f"c{turn}"),
                  R("error: timeout" if (turn + variant) % 4 == 1 else FILLER[:120], call_id=f"c{turn}")]
    return conv(tid, *specs[:count], start_ts=1.7e9 + variant)


def state_sizes() -> None:
    print(f"{'events':>6} {'p50 B':>7} {'p90 B':>7} {'max B':>7}")
    for k in (1, 5, 20, 50, 100):
        sizes = []
        for i in range(200):
            session = Session(f"s-{i}")
            for event in events(f"s-{i}", k, i):
                session.feed(event)
            sizes.append(len(DEFAULT_ENGINE.encode_state(session.state)))
        sizes.sort()
        print(f"{k:6d} {statistics.median(sizes):7.0f} {sizes[int(len(sizes) * 0.9)]:7d} {sizes[-1]:7d}")


def du_bytes(path: Path) -> int:
    done = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[0])


async def send_open(kafka: str, topic: str, count: int, per: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.split("://")[-1], linger_ms=20,
                                max_batch_size=512 * 1024)
    await producer.start()
    try:
        for i in range(count):
            tid = f"open-{i}"
            await producer.send(topic, encode_events(events(tid, per, i)), key=tid.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def one_size(kafka: str, count: int, per: int) -> None:
    tag = uuid.uuid4().hex[:8]
    names = {"app_id": f"scale-{tag}", "topic_events": f"scale-ev-{tag}", "topic_signals": f"scale-sig-{tag}",
             "topic_trajectories": f"scale-traj-{tag}", "topic_dlq": f"scale-dlq-{tag}"}
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        data = Path(tmp)
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in names.items()]
        argv = [sys.executable, "-m", "streams.cli.commands.worker", f"--kafka={kafka}", "--store=rocksdb://",
                f"--data-dir={data}", "--sink=false", "--web-port=0", "--metrics-port=0",
                "--idle-close=1000000", *flags]
        with open(data / "worker.log", "wb") as log:
            worker = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
            try:
                await asyncio.sleep(6)
                idle_rss = rss_mb(worker.pid)
                started = time.monotonic()
                await send_open(kafka, names["topic_events"], count, per)
                lag = Lag(kafka.split("://")[-1], names["app_id"])
                await lag.start()
                while await lag.of(names["topic_events"]) > 0:
                    assert worker.poll() is None, f"worker exited; see {data}/worker.log"
                    await asyncio.sleep(2)
                await lag.stop()
                seconds = time.monotonic() - started
                await asyncio.sleep(5)  # let the store flush
                rss, disk = rss_mb(worker.pid), du_bytes(data / "faust")
            finally:
                worker.kill()
                worker.wait(timeout=30)
    print(f"{count:>8,d} {per:>4d} {seconds:7.1f} {idle_rss:8.1f} {rss:8.1f} "
          f"{(rss - idle_rss) * 1024 * 1024 / count:9.0f} {disk / 1e6:8.1f} {disk / count:8.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kafka", default="kafka://127.0.0.1:9092")
    parser.add_argument("--open", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--events", type=int, default=5, help="events per open trajectory")
    parser.add_argument("--state-only", action="store_true")
    args = parser.parse_args()
    state_sizes()
    if args.state_only:
        return
    print(f"\n{'open':>8} {'ev':>4} {'secs':>7} {'idle MB':>8} {'RSS MB':>8} {'B RSS/tr':>9} {'disk MB':>8} {'B disk/tr':>8}")
    for count in args.open:
        asyncio.run(one_size(args.kafka, count, args.events))


if __name__ == "__main__":
    main()
