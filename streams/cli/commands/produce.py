"""`signals produce`: send trajectory files to the events topic (aiokafka, no Faust).

Each trajectory is keyed by its id (the id `signals analyze` prints) and ends with a SessionEnd
event (seq = number of events) unless it already has one (``streams.pipeline.ended``: what
`analyze` and `load` feed for the same file). ``--batch K`` packs up to K events of one
trajectory into a message (a batched envelope); ``--rate`` throttles to N events/s;
``--concurrent N`` keeps N trajectories open at once, their messages in turn (live traffic).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from detectors.adapters import Trajectory, read_trajectories
from detectors.model import Event
from streams.cli.commands.flags import add_settings_flags, settings_from_args
from streams.codec import encode_events
from streams.kafka import client_options
from streams.pipeline import ended
from streams.settings import Settings

with_end = ended  # the name the tests and benches know


class Summary(msgspec.Struct):
    trajectories: int = 0
    events: int = 0
    messages: int = 0
    seconds: float = 0.0


def chunks(events: list[Event], size: int) -> Iterator[list[Event]]:
    for start in range(0, len(events), max(1, size)):
        yield events[start:start + max(1, size)]


async def produce(settings: Settings, trajectories: Iterable[Trajectory], *, batch: int = 1,
                  rate: float = 0.0, topic: str | None = None, concurrent: int = 1) -> Summary:
    from aiokafka import AIOKafkaProducer
    producer = AIOKafkaProducer(linger_ms=10, max_batch_size=256 * 1024, **client_options(settings))
    summary, started = Summary(), time.perf_counter()
    try:
        await producer.start()  # in the try: a start that fails (no broker) still closes the producer
        for key, part in messages(trajectories, batch, concurrent, summary):
            await producer.send(topic or settings.topic_events, encode_events(part), key=key)
            summary.events += len(part)
            summary.messages += 1
            await throttle(rate, summary.events, started)
        await producer.flush()
    finally:
        await producer.stop()
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def messages(trajectories: Iterable[Trajectory], batch: int, concurrent: int,
             summary: Summary) -> Iterator[tuple[bytes, list[Event]]]:
    """(key, events) of each message: ``concurrent`` trajectories open at once, one message of each
    in turn (1: one trajectory after the other; more: as live traffic, many sessions at a time); a
    trajectory that ends makes room for the next. Counts the trajectories started in ``summary``."""
    waiting = iter(trajectories)
    active: deque[tuple[bytes, Iterator[list[Event]]]] = deque()

    def start_next() -> None:
        trajectory = next(waiting, None)
        if trajectory is not None:
            active.append((trajectory.id.encode(), chunks(ended(trajectory), batch)))
            summary.trajectories += 1

    for _ in range(max(1, concurrent)):
        start_next()
    while active:
        key, parts = active.popleft()
        part = next(parts, None)
        if part is None:
            start_next()
            continue
        yield key, part
        active.append((key, parts))


async def throttle(rate: float, sent: int, started: float) -> None:
    """Sleep until ``sent`` events are no more than ``rate`` per second since ``started`` (0: never)."""
    if rate > 0:
        ahead = sent / rate - (time.perf_counter() - started)
        if ahead > 0:
            await asyncio.sleep(ahead)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("produce", help="send trajectory files as events to Kafka")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="trajectory files (any adapter format; - = stdin)")
    parser.add_argument("--batch", type=int, default=20, help="events per message (batched envelope); 1 = one event each")
    parser.add_argument("--rate", type=float, default=0.0, help="throttle to N events/s (0 = as fast as possible)")
    parser.add_argument("--concurrent", type=int, default=1,
                        help="trajectories open at once, one message of each in turn, as live traffic (default 1)")
    add_settings_flags(parser, ("kafka", "topic_events"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    trajectories = (t for path in args.paths for t in read_trajectories(path))
    summary = asyncio.run(produce(settings, trajectories, batch=args.batch, rate=args.rate,
                                  concurrent=args.concurrent))
    rate = summary.events / summary.seconds if summary.seconds else 0.0
    print(f"produced {summary.trajectories} trajectories, {summary.events} events in {summary.messages} "
          f"messages to {settings.topic_events} in {summary.seconds:.2f}s ({rate:,.0f} events/s)")
    return 0
