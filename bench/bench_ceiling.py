"""Same-run ceiling benchmark (not a test; prints figures): how close one worker gets to its framework.

    .venv/bin/python bench/bench_ceiling.py --kafka kafka://127.0.0.1:9092 [--events 100000] [--batches 1,20] [--rounds 3]

For each variant (events per message), ONE pre-filled topic is read, one after the other, by:
1. aiokafka ``getmany`` + ``streams.codec.decode`` (the client library's ceiling);
2. a bare Faust agent that only iterates: the worker's app (``create_app``, patches included) and
   batching (``stream.take_events(batch_max, within=batch_within_s)``), counting messages; once
   with ``streams.worker.faust_fixes`` installed (as the worker runs) and once as Faust is released
   ("stock"): fix 9 makes Faust's own delivery cheaper, so the stock agent is the framework's ceiling;
3. our worker (``streams.cli.commands.worker``, memory store), without and with the ClickHouse sink
   (chDB in a temporary directory) unless ``--skip-sink``; with ``--baseline PATH`` also the worker
   of another checkout (the same variants), for before/after figures in the same run.
Each as events/s over the work only: getmany from its first fetched batch, bare Faust from its first
batch to the last, the worker from its first to its last trajectory record (startup and the group
join excluded), and as CPU microseconds per event of that process over the same stretch (less
sensitive to a busy machine than wall time). ``--rounds N`` runs every variant N times, interleaved,
and keeps the best of each. ``--concurrent N`` fills the topic as live traffic is: N trajectories
open at once, their messages round-robin (so most batches hold one event of each). Then the ratios worker / bare Faust (wall and CPU) and worker / getmany.
Helpers (data, produce, the worker subprocess, topic readers) are those of ``bench_streaming``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench.*, tests.builders

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.bench_streaming import (
    REPO,
    consume_all,
    names,
    produce_concurrent,
    read_until,
    start_worker,
    trajectories,
)
from streams.kafka import client_options, ensure_topics
from streams.settings import Settings


def bare_faust_child(kafka: str, topic: str, app_id: str, expected: int, out: str, stock: bool = False) -> None:
    """The framework's ceiling: the worker's Faust app and batching, an agent that only counts. ``stock``:
    Faust as released, none of ``streams.worker.faust_fixes`` installed (else all, as in the worker)."""
    from faust.worker import Worker

    from streams.cli.commands.worker import _use_uvloop
    from streams.worker import faust_fixes
    from streams.worker.app import create_app
    from streams.worker.topics import build_topics

    faust_fixes._applied = stock  # create_app installs them unless they count as installed already

    with tempfile.TemporaryDirectory() as data:
        settings = Settings.from_env({"kafka": kafka, "topic_events": topic, "app_id": app_id,
                                      "store": "memory://", "data_dir": data, "web_port": 0})
        app = create_app(settings)
        topics = build_topics(app, settings)
        seen = {"messages": 0, "first": 0.0, "last": 0.0, "cpu_first": 0.0, "cpu_last": 0.0}

        @app.agent(topics.events, name="bare")
        async def bare(stream):  # type: ignore[no-untyped-def]
            async for batch in stream.take_events(settings.batch_max, within=settings.batch_within_s):
                now = time.time()
                if not seen["first"]:
                    seen["cpu_first"] = time.process_time()
                seen["first"] = seen["first"] or now
                seen["cpu_last"] = time.process_time()
                seen["messages"] += len(batch)
                seen["last"] = now
                if seen["messages"] >= expected:
                    Path(out).write_text(json.dumps(seen))

        _use_uvloop()  # as the worker does
        worker = Worker(app, loglevel="warning", quiet=True)
        worker.spinner = None  # as the worker does: no root logger left at DEBUG
        worker.execute_from_commandline()


async def bare_faust(kafka: str, topic: str, messages: int, stock: bool = False) -> tuple[float, float]:
    """Seconds (wall, CPU) from the first to the last batch of a bare Faust agent over ``messages`` messages."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bare.json"
        argv = [sys.executable, __file__, "--child-bare-faust", f"--kafka={kafka}", f"--topic={topic}",
                f"--app-id=bench-bare-{uuid.uuid4().hex[:8]}", f"--expected={messages}", f"--out={out}",
                *(["--stock"] if stock else [])]
        log = open(Path(tempfile.gettempdir()) / f"bench-bare-{topic}.log", "wb")  # noqa: SIM115
        child = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 600
            while not out.exists() and time.monotonic() < deadline and child.poll() is None:
                await asyncio.sleep(0.2)
            if not out.exists():
                raise RuntimeError(f"bare Faust agent did not finish; see {log.name}")
            seen = json.loads(out.read_text())
        finally:
            child.kill()
            child.wait()
            log.close()
    return float(seen["last"] - seen["first"]), float(seen["cpu_last"] - seen["cpu_first"])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def committed_to_end(kafka: str, group: str, topic: str) -> bool:
    """``group`` has committed every message of ``topic``."""
    from aiokafka.admin import AIOKafkaAdminClient
    settings = Settings.from_env({"kafka": kafka})
    admin = AIOKafkaAdminClient(**client_options(settings))
    consumer = AIOKafkaConsumer(**client_options(settings))
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        ends = await consumer.end_offsets([tp for tp in committed if tp.topic == topic] or
                                          [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()])
        return bool(ends) and all(tp in committed and committed[tp].offset >= end for tp, end in ends.items())
    finally:
        await consumer.stop()
        await admin.close()


def raw_events_group(repo: Path, app_id: str) -> str:
    """The group that writes raw events: its own (streams/worker/events_sink.py), or before it the worker's."""
    return app_id + "-raw-events" if (repo / "streams" / "worker" / "events_sink.py").exists() else app_id


async def worker(kafka: str, topic: str, finals: int, *extra: str, repo: Path = REPO,
                 raw_events: bool = False) -> tuple[float, float]:
    """Seconds (wall, CPU) from the worker's first trajectory record to its last final one (with
    ``raw_events``: or, if later, to when the raw events are all written and committed). CPU
    seconds are the worker process's, read when the reader first sees a record and when it is done
    (each read at most 0.5 s late: use enough events)."""
    topics = {**names(uuid.uuid4().hex[:8]), "topic_events": topic}
    with tempfile.TemporaryDirectory() as tmp:
        process = start_worker(kafka, topics, tmp, *extra, "--commit-interval-s=0.2", repo=repo)
        try:
            seen: set[bytes] = set()
            cpu: list[float] = []

            def done(messages: list) -> bool:
                if messages and not cpu:
                    cpu.append(cpu_seconds(process.pid))
                seen.update(m.key for m in messages[-20000:] if b'"final":true' in m.value)
                return len(seen) >= finals
            records = await read_until(kafka, topics["topic_trajectories"], done, timeout=900)
            ended = time.time()
            group = raw_events_group(repo, topics["app_id"])
            while raw_events and not await committed_to_end(kafka, group, topic) and time.time() < ended + 300:
                await asyncio.sleep(0.1)
            written = time.time()
            cpu.append(cpu_seconds(process.pid))
        finally:
            process.kill()
            process.wait()
    if len(seen) < finals:
        raise RuntimeError(f"worker wrote {len(seen)}/{finals} final records")
    first = min(m.timestamp for m in records) / 1000
    last = max(m.timestamp for m in records if b'"final":true' in m.value) / 1000
    return last - first + max(0.0, written - ended - 0.1), cpu[-1] - cpu[0]


async def variant(kafka: str, count: int, batch: int, with_sink: bool, baseline: Path | None,
                  rounds: int, concurrent: int, records_only: bool = False) -> None:
    topic = f"bceil-{batch}-{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env({"kafka": kafka, "topic_events": topic})
    await ensure_topics(settings, client_options(settings))  # the worker's partition count
    data = trajectories(count, f"ceil{batch}")
    summary = await produce_concurrent(settings, data, batch=batch, concurrent=concurrent)
    print(f"[{batch} event(s)/message] topic {topic}: {summary.events} events in {summary.messages} messages, "
          f"{len(data)} trajectories, {concurrent or 1} at a time", flush=True)
    runs: dict[str, list[tuple[float, float]]] = {}  # what -> (wall s, CPU s) per round
    _decoded, seconds = await consume_all(kafka, topic, summary.messages, decoded=True)
    runs["getmany + decode"] = [(seconds, float("nan"))]
    for _ in range(rounds):  # interleaved, so a noisy stretch of the machine hits every variant
        runs.setdefault("bare Faust agent", []).append(await bare_faust(kafka, topic, summary.messages))
        runs.setdefault("bare stock Faust agent", []).append(await bare_faust(kafka, topic, summary.messages, True))
        runs.setdefault("worker, no sink", []).append(await worker(kafka, topic, len(data), "--sink=false"))
        if with_sink:
            runs.setdefault("worker + chDB sink", []).append(await worker(kafka, topic, len(data), raw_events=True))
            if records_only:
                runs.setdefault("worker + sink, no raw events", []).append(
                    await worker(kafka, topic, len(data), "--sink-events=false"))
        if baseline is not None:
            runs.setdefault("baseline worker, no sink", []).append(
                await worker(kafka, topic, len(data), "--sink=false", repo=baseline))
            if with_sink:
                runs.setdefault("baseline worker + chDB sink", []).append(
                    await worker(kafka, topic, len(data), repo=baseline, raw_events=True))
    best = {what: (min(w for w, _ in rs), min(c for _, c in rs)) for what, rs in runs.items()}
    if too_short := [what for what, (wall, _) in best.items() if wall <= 0]:
        raise SystemExit(f"[{batch} event(s)/message] too short to time: {', '.join(too_short)} took no measurable "
                         f"time on {summary.messages} messages; run with a larger --events")
    for what, (wall, cpu) in best.items():
        per_event = "" if cpu != cpu else f", {cpu / summary.events * 1e6:7.1f} CPU us/event"
        print(f"[{batch} event(s)/message] {what:<24} {summary.events / wall:>11,.0f} events/s{per_event}"
              f" (best of {len(runs[what])})", flush=True)
    getmany = best["getmany + decode"][0]
    for what in [w for w in best if "worker" in w]:
        wall, cpu = best[what]
        ratios = ", ".join(f"{best[bare][0] / wall:.2f}x {bare} (CPU per event: {best[bare][1] / cpu:.2f}x)"
                           for bare in ("bare Faust agent", "bare stock Faust agent"))
        print(f"[{batch} event(s)/message] {what}: {ratios}, {getmany / wall:.3f}x getmany", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kafka", default=None, help="default: SIGNALS_KAFKA or kafka://127.0.0.1:9092")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batches", default="1,20", help="events per message, comma-separated variants")
    parser.add_argument("--concurrent", type=int, default=0,
                        help="trajectories open at once in the topic, messages round-robin (0: one after the other)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each variant, interleaved; the best is kept")
    parser.add_argument("--skip-sink", action="store_true", help="no worker run with the ClickHouse sink")
    parser.add_argument("--records-only", action="store_true",
                        help="also the worker with the sink writing records only (--sink-events=false)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout (e.g. main): its worker, no sink, on the same topic, for before/after")
    parser.add_argument("--child-bare-faust", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    parser.add_argument("--app-id", help=argparse.SUPPRESS)
    parser.add_argument("--expected", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--stock", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    kafka = Settings.from_env({"kafka": args.kafka}).kafka
    if args.child_bare_faust:
        sys.argv = sys.argv[:1]  # Faust's own command line parser reads argv
        bare_faust_child(kafka, args.topic, args.app_id, args.expected, args.out, args.stock)
        return
    for batch in (int(b) for b in args.batches.split(",")):
        asyncio.run(variant(kafka, args.events, batch, not args.skip_sink, args.baseline, args.rounds, args.concurrent,
                            args.records_only))


if __name__ == "__main__":
    main()
