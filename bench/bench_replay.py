"""Replay benchmark against a real Kafka broker (not a test; prints figures).

    .venv/bin/python bench/bench_replay.py --kafka kafka://127.0.0.1:9092 [--events 40000] [--with-worker]

1. produce: ~20-event trajectories (bench_streaming's generator) to a fresh 4-partition topic;
2. replay (engine only): the whole topic through ``run_replay`` into a counting output;
3. replay -> topics: the same, publishing records and signals (``--output topic``);
4. replay -> ClickHouse: into a temporary embedded chDB (``--output clickhouse``);
   2-4 run four times, alternating: with Python's garbage-collector settings, and tuned as ``signals replay`` tunes
   them (``streams.runtime.tune_gc``), for the same-run ratio;
5. ``--with-worker``: bench_streaming's end-to-end worker run on its own topic, for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_streaming import end_to_end, trajectories

from sinks.client import connect
from sinks.migrate import migrate
from sinks.writer import Writer
from streams.cli.commands.produce import produce
from streams.kafka import client_options, ensure_topics
from streams.replay.kafka import Request, run_replay
from streams.replay.output import ClickHouseOutput, TopicOutput
from streams.replay.range import Bound
from streams.runtime import tune_gc
from streams.settings import Settings

WHOLE = Request(Bound("beginning"), Bound("end"), "2.0.0")


class Count:
    records = 0

    def emit(self, report: Any, events: Any) -> None:
        self.records += 1

    def reject(self, *args: Any) -> None:
        pass

    async def commit(self) -> None:
        pass


def line(label: str, events: int, seconds: float, extra: str = "") -> None:
    print(f"{label:<36} {events:>8} events {seconds:>7.2f} s {events / seconds:>10,.0f} events/s {extra}")


async def replay_to(settings: Settings, output: Any, label: str) -> None:
    outcome = await run_replay(settings, WHOLE, output, key=label, path=None)
    line(label, outcome.counters.events, outcome.seconds, f"({outcome.counters.records} records)")


async def main_async(kafka: str, events: int) -> None:
    tag = uuid.uuid4().hex[:8]
    settings = Settings.from_env({"kafka": kafka, "partitions": 4, "topic_events": f"bench-replay-{tag}",
                                  "topic_signals": f"bench-replay-sig-{tag}",
                                  "topic_trajectories": f"bench-replay-traj-{tag}"})
    await ensure_topics(settings, client_options(settings))
    summary = await produce(settings, trajectories(events, f"r{tag}"), batch=1)
    line("produce (1 event/message)", summary.events, summary.seconds)
    client = connect(f"chdb://{tempfile.mkdtemp(prefix='bench-replay-')}")  # one embedded engine per process
    python_gc = gc.get_threshold()
    for round_, gc_label in enumerate(("Python's GC", "tuned GC") * 2):  # interleaved: warm-up favours neither
        if gc_label == "tuned GC":
            tune_gc(settings)
        else:
            gc.unfreeze()
            gc.set_threshold(*python_gc)
        await replay_to(settings, Count(), f"replay (engine only), {gc_label}")
        topic = TopicOutput(settings)
        await topic.start()
        try:
            await replay_to(settings, topic, f"replay -> topics, {gc_label}")
        finally:
            await topic.stop()
        database = f"bench{round_}"
        migrate(client, database)
        await replay_to(settings, ClickHouseOutput(Writer(lambda: client, database)), f"replay -> chDB, {gc_label}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kafka", default="kafka://127.0.0.1:9092")
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--with-worker", action="store_true", help="also run the live worker end to end")
    args = parser.parse_args()
    asyncio.run(main_async(args.kafka, args.events))
    if args.with_worker:
        asyncio.run(end_to_end(args.kafka, args.events, 1))


if __name__ == "__main__":
    main()
