"""What `signals replay` shows: the dry-run plan, a rich progress bar, the final summary."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from streams.replay.checkpoint import Range
from streams.replay.kafka import Outcome, Progress, Request, consumer_for
from streams.replay.range import partitions_of, resolve
from streams.settings import Settings

SCAN_LIMIT = 200_000  # messages per partition whose keys are scanned; beyond it, extrapolated


@dataclass(frozen=True)
class PartitionPlan:
    range: Range
    trajectories: int
    estimated: bool


async def dry_run(settings: Settings, request: Request, scan_limit: int = SCAN_LIMIT) -> list[PartitionPlan]:
    consumer = consumer_for(settings)
    await consumer.start()
    try:
        tps = await partitions_of(consumer, settings.topic_events, request.partitions)
        consumer.assign(tps)
        ranges = await resolve(consumer, tps, request.start, request.stop, request.lookback_s)
        return [await _plan(consumer, tp, r, scan_limit) for tp, r in zip(tps, ranges, strict=True)]
    finally:
        await consumer.stop()


async def _plan(consumer: Any, tp: TopicPartition, r: Range, scan_limit: int) -> PartitionPlan:
    stop = min(r.end, r.start + scan_limit)
    keys: set[bytes | None] = set()
    if stop > r.start:
        consumer.seek(tp, r.start)
    offset = r.start
    while offset < stop:
        for message in (await consumer.getmany(tp, timeout_ms=1000, max_records=5000)).get(tp, []):
            if message.offset >= stop:
                break
            keys.add(message.key)
        offset = await consumer.position(tp)
    scanned = stop - r.start
    estimated = scanned < r.messages
    count = round(len(keys) * r.messages / scanned) if estimated and scanned else len(keys)
    return PartitionPlan(r, count, estimated)


def print_dry_run(plans: list[PartitionPlan]) -> None:
    print(f"{'partition':>9} {'lookback':>10} {'from':>10} {'to':>10} {'messages':>10} {'trajectories':>13}")
    for plan in plans:
        r, mark = plan.range, "~" if plan.estimated else ""
        print(f"{r.partition:>9} {r.lookback:>10} {r.start:>10} {r.end:>10} {r.messages:>10} "
              f"{mark + str(plan.trajectories):>13}")
    print(f"total: {sum(p.range.messages for p in plans)} messages, "
          f"{sum(p.trajectories for p in plans)} trajectories (~ = extrapolated from the first keys); nothing written")


@contextmanager
def rich_progress() -> Iterator[Progress]:
    from rich import progress as rp
    from rich.console import Console
    columns = (rp.TextColumn("replay"), rp.BarColumn(), rp.MofNCompleteColumn(), rp.TextColumn("msgs"),
               rp.TextColumn("{task.fields[rate]:>9,.0f} events/s"), rp.TimeRemainingColumn())
    started = time.perf_counter()
    with rp.Progress(*columns, console=Console(file=sys.stderr), transient=False) as bar:
        task = bar.add_task("replay", total=None, rate=0.0)

        def update(done: int, total: int, events: int) -> None:
            rate = events / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=done, total=total, rate=rate)

        yield update


def print_outcome(outcome: Outcome, checkpoint: Path) -> None:
    c = outcome.counters
    if outcome.already_done:
        print(f"already complete according to {checkpoint}; pass --fresh to replay again")
        return
    state = "interrupted" if outcome.interrupted else "done"
    rate = c.events / outcome.seconds if outcome.seconds else 0.0
    print(f"replay {state}{' (resumed)' if outcome.resumed else ''}: {c.messages} messages, {c.events} events "
          f"in {outcome.seconds:.2f}s ({rate:,.0f} events/s); {c.records} records ({c.final} final, "
          f"{c.open_at_end} open at the end of the range), partial skipped {c.partial_skipped}, "
          f"written {c.partial_written}, late {c.late}, rejected {sum(c.rejected.values())} {c.rejected or ''}")
    print(f"checkpoint: {checkpoint}")
