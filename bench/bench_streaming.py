"""Streaming benchmark against a real Kafka broker (not a test; prints figures).

    .venv/bin/python bench/bench_streaming.py --kafka kafka://127.0.0.1:9092 [--events 200000]

1. ceiling: aiokafka ``getmany`` over the input topic, without and with ``streams.codec.decode``;
2. end-to-end: one worker process (subprocess, memory store) on a pre-filled topic; events/s from
   the first to the last record it writes (startup excluded), and until the last final record;
3. latency at a fixed produce rate (default 2k events/s, one event per message; ``--concurrent N``:
   N trajectories open at once, their events round-robin, as live traffic is):
   signal-topic message timestamp - input message timestamp, p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.builders

from detectors.adapters import Trajectory
from streams.cli.commands.produce import Summary, produce
from streams.codec import decode
from streams.settings import Settings
from tests.builders import A, C, R, U, conv

REPO = Path(__file__).resolve().parents[1]
FILLER = "please check the itinerary details and confirm the fare class for each segment of my trip "


def trajectories(events: int, prefix: str) -> list[Trajectory]:
    """~20-event trajectories (19 + SessionEnd) of ~250-byte events that trigger some signals."""
    out = []
    for i in range(events // 20):
        tid = f"{prefix}-{i}"
        specs = []
        for turn in range(4):
            specs += [U(f"{FILLER[:120]} turn {turn}" if turn != 2 else "No, that's wrong, I meant Paris"),
                      A(FILLER[: 150]), C("search_flights", {"to": "PAR", "turn": turn % 2}, call_id=f"c{turn}"),
                      R("error: timeout" if turn == 1 else FILLER[:140], call_id=f"c{turn}")]
        specs += [U("thanks, that works"), A("You're welcome"), U("bye")]
        out.append(Trajectory(id=tid, events=conv(tid, *specs, start_ts=1.7e9 + i)))
    return out


async def produce_concurrent(settings: Settings, data: list[Trajectory], *, batch: int = 1, rate: float = 0.0,
                             concurrent: int = 0) -> Summary:
    """``signals produce`` with ``concurrent`` trajectories open at once (0: one after the other)."""
    return await produce(settings, data, batch=batch, rate=rate, concurrent=max(1, concurrent))


async def consume_all(kafka: str, topic: str, expected: int, *, decoded: bool) -> tuple[int, float]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka.split("://")[-1], group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                max_partition_fetch_bytes=4 << 20, fetch_max_bytes=16 << 20)
    await consumer.start()
    count, events, started = 0, 0, None
    try:
        while count < expected:
            for batch in (await consumer.getmany(timeout_ms=1000, max_records=10000)).values():
                started = started or time.perf_counter()
                count += len(batch)
                if decoded:
                    for message in batch:
                        result = decode(message.value, message.key)
                        events += len(result) if isinstance(result, list) else 0
    finally:
        await consumer.stop()
    return events, time.perf_counter() - (started or time.perf_counter())


def start_worker(kafka: str, names: dict[str, str], data: str, *extra: str,
                 repo: Path = REPO) -> subprocess.Popen[bytes]:
    """A worker subprocess running the code of ``repo`` (another checkout compares two versions)."""
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in names.items()]
    argv = [sys.executable, "-m", "streams.cli.commands.worker", f"--kafka={kafka}", "--store=memory://",
            f"--data-dir={data}", "--web-port=0", "--metrics-port=0", *flags, *extra]
    log = open(Path(tempfile.gettempdir()) / f"{names['app_id']}-worker.log", "wb")  # noqa: SIM115 - lives as long as the worker
    return subprocess.Popen(argv, cwd=repo, stdout=log, stderr=subprocess.STDOUT)


async def read_until(kafka: str, topic: str, done, timeout: float) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka.split("://")[-1], auto_offset_reset="earliest",
                                enable_auto_commit=False, metadata_max_age_ms=1000, fetch_max_bytes=16 << 20)
    await consumer.start()
    messages: list = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not done(messages):
            for batch in (await consumer.getmany(timeout_ms=500, max_records=20000)).values():
                messages.extend(batch)
    finally:
        await consumer.stop()
    return messages


def names(tag: str) -> dict[str, str]:
    return {"app_id": f"bench-{tag}", "topic_events": f"bev-{tag}", "topic_signals": f"bsig-{tag}",
            "topic_trajectories": f"btraj-{tag}", "topic_dlq": f"bdlq-{tag}"}


async def end_to_end(kafka: str, count: int, batch: int) -> None:
    topics = names(uuid.uuid4().hex[:8])
    data = trajectories(count, "e2e")
    settings = Settings.from_env({"kafka": kafka, "topic_events": topics["topic_events"]})
    summary = await produce(settings, data, batch=batch)
    print(f"[batch={batch}] produced {summary.events} events in {summary.messages} messages: "
          f"{summary.events / summary.seconds:,.0f} events/s")
    for decoded in (False, True):
        events, seconds = await consume_all(kafka, topics["topic_events"], summary.messages, decoded=decoded)
        what = "getmany + codec.decode" if decoded else "getmany, no decoding (ceiling)"
        print(f"[batch={batch}] {what}: {summary.messages / seconds:,.0f} msgs/s"
              + (f", {events / seconds:,.0f} events/s" if decoded else f", {summary.events / seconds:,.0f} events/s"))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.time()
        worker = start_worker(kafka, topics, tmp)
        try:
            finals: set[bytes] = set()

            def done(messages: list) -> bool:
                finals.update(m.key for m in messages[-20000:] if b'"final":true' in m.value)
                return len(finals) >= len(data)
            records = await read_until(kafka, topics["topic_trajectories"], done, timeout=900)
        finally:
            worker.kill()
    first = min(m.timestamp for m in records) / 1000
    last = max(m.timestamp for m in records if b'"final":true' in m.value) / 1000
    print(f"[batch={batch}] worker: {len(finals)}/{len(data)} final records; {summary.events / (last - first):,.0f} "
          f"events/s first->last record ({last - first:.1f}s), {last - started:.1f}s incl. startup; "
          f"{len(records)} record messages")


async def latency(kafka: str, rate: float, seconds: float, concurrent: int = 0, repo: Path = REPO,
                  processes: int = 1) -> None:
    topics = names(uuid.uuid4().hex[:8])
    data = trajectories(int(rate * seconds), "lat")
    settings = Settings.from_env({"kafka": kafka, "topic_events": topics["topic_events"]})
    with tempfile.TemporaryDirectory() as tmp:
        worker = start_worker(kafka, topics, tmp, f"--processes={processes}", repo=repo)
        try:
            await asyncio.sleep(12)  # join the group before producing
            summary = await produce_concurrent(settings, data, batch=1, rate=rate, concurrent=concurrent)
            inputs = await read_until(kafka, topics["topic_events"],  # the worker's ticks (empty) don't count
                                      lambda ms: sum(1 for m in ms if m.value) >= summary.messages, 120)
            expected_finals = len(data)
            signals = await read_until(kafka, topics["topic_signals"], lambda ms: False, timeout=8)
            records = await read_until(kafka, topics["topic_trajectories"],
                                       lambda ms: sum(b'"final":true' in m.value for m in ms) >= expected_finals, 60)
        finally:
            worker.kill()
    sent = {(m.key, json.loads(m.value)["seq"]): m.timestamp for m in inputs if m.value}  # skip ticks
    timed = sorted((sent[(m.key, json.loads(m.value)["index"])], m.timestamp) for m in signals)
    lags = sorted(done - at for at, done in timed)
    print(f"latency at {summary.events / summary.seconds:,.0f} events/s (1 event/message, {concurrent or 1} "
          f"trajectories at a time): {len(lags)} signals, "
          f"p50 {quantile(lags, 0.5)} ms, p99 {quantile(lags, 0.99)} ms, max {lags[-1]} ms; {len(records)} records")
    fifths = [sorted(done - at for at, done in timed[i * len(timed) // 5:(i + 1) * len(timed) // 5]) for i in range(5)]
    print("  p50 / p99 by when the event was sent (each fifth of the run): "  # rising: the worker falls behind
          + ", ".join(f"{quantile(part, 0.5)} / {quantile(part, 0.99)} ms" for part in fifths if part))


def quantile(ordered: list[int], q: float) -> int:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kafka", default=None, help="default: SIGNALS_KAFKA or kafka://127.0.0.1:9092")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batches", default="20,1", help="events per message, comma-separated variants")
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--concurrent", type=int, default=0,
                        help="latency: this many trajectories open at once, round-robin (0: one after the other)")
    parser.add_argument("--worker-repo", type=Path, default=REPO,
                        help="latency: run the worker of this checkout (before/after figures)")
    parser.add_argument("--processes", type=int, default=1, help="latency: `signals worker --processes N`")
    parser.add_argument("--skip", default="", help="comma list of: e2e, latency")
    args = parser.parse_args()
    kafka = Settings.from_env({"kafka": args.kafka}).kafka
    skip = set(args.skip.split(","))
    if "e2e" not in skip:
        for batch in (int(b) for b in args.batches.split(",")):
            asyncio.run(end_to_end(kafka, args.events, batch))
    if "latency" not in skip:
        asyncio.run(latency(kafka, args.rate, args.latency_seconds, args.concurrent, args.worker_repo, args.processes))


if __name__ == "__main__":
    main()
