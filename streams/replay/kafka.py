"""The replay loop over Kafka: resolve the range, read it with manual assignment, checkpoint.

No consumer group and no offset commits: live workers are untouched. Checkpoints are written only
after ``output.commit()`` succeeded, so a checkpoint never claims records that were not written.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.alerts import Alert, SpikeDetector
from streams.kafka import client_options
from streams.pipeline import engine_for
from streams.replay import Counters, Replayer
from streams.replay import checkpoint as cp
from streams.replay.range import Bound, partitions_of, resolve
from streams.settings import Settings

Progress = Callable[[int, int, int], None]  # (messages done, messages total, events done)


@dataclass(frozen=True)
class Request:
    start: Bound
    stop: Bound
    pipeline_version: str
    partitions: list[int] | None = None
    lookback_s: float = 3600.0
    write_partial: bool = False
    alerts: bool = False  # also run the spike detector over the replayed signals (Outcome.alerts)


@dataclass
class Outcome:
    ranges: list[cp.Range]
    counters: Counters
    seconds: float = 0.0
    resumed: bool = False
    interrupted: bool = False
    already_done: bool = False
    read: int = 0  # messages read, lookback and re-read included
    extra: dict[str, Any] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)  # with Request.alerts: what the worker would have alerted


def consumer_for(settings: Settings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                            max_partition_fetch_bytes=4 << 20, fetch_max_bytes=16 << 20,
                            **client_options(settings))


async def run_replay(settings: Settings, request: Request, output: Any, *, key: str, path: Path | None,
                     progress: Progress | None = None, max_messages: int | None = None,
                     checkpoint_every_s: float = 5.0, fresh: bool = False) -> Outcome:
    consumer = consumer_for(settings)
    await consumer.start()
    try:
        saved = None if fresh or path is None else cp.load(path, key)
        tps = await partitions_of(consumer, settings.topic_events, request.partitions)
        consumer.assign(tps)
        ranges = saved.ranges if saved else await resolve(consumer, tps, request.start, request.stop,
                                                          request.lookback_s)
        outcome = Outcome(ranges, Counters(), resumed=saved is not None, already_done=bool(saved and saved.done))
        if not outcome.already_done:
            loop = _Loop(consumer, settings, request, output, outcome, key, path, saved)
            await loop.run(progress, max_messages, checkpoint_every_s)
        return outcome
    finally:
        await consumer.stop()


class _Loop:
    def __init__(self, consumer: Any, settings: Settings, request: Request, output: Any, outcome: Outcome,
                 key: str, path: Path | None, saved: cp.Checkpoint | None) -> None:
        self.consumer, self.output, self.outcome, self.key, self.path = consumer, output, outcome, key, path
        topic = settings.topic_events
        self.ranges = {TopicPartition(topic, r.partition): r for r in outcome.ranges}
        self.read_from = {r.partition: (saved.resume.get(r.partition, r.lookback) if saved else r.lookback)
                          for r in outcome.ranges}
        self.detector = SpikeDetector(settings.alert_config(), [r.partition for r in outcome.ranges],
                                      pipeline_version=request.pipeline_version) if request.alerts else None
        self.replayer = Replayer({r.partition: r.start for r in outcome.ranges}, output,
                                 pipeline_version=request.pipeline_version, gap_s=settings.inactivity_gap_s,
                                 max_event_bytes=settings.max_event_bytes, write_partial=request.write_partial,
                                 engine=engine_for(settings.triage_config),
                                 on_signal=self._signal if self.detector is not None else None)
        outcome.counters = self.replayer.counters

    async def run(self, progress: Progress | None, max_messages: int | None, every_s: float) -> None:
        started = last_save = time.perf_counter()
        active = {tp for tp, r in self.ranges.items() if self.read_from[r.partition] < r.end}
        for tp in active:
            self.consumer.seek(tp, self.read_from[tp.partition])
        self.consumer.pause(*(set(self.ranges) - active))
        total = sum(r.messages for r in self.ranges.values())
        try:
            while active:
                if await self._batch(active, max_messages):
                    self.outcome.interrupted = True
                    break
                if progress:
                    progress(self._done(), total, self.replayer.counters.events)
                if time.perf_counter() - last_save >= every_s:
                    await self.save(done=False)
                    last_save = time.perf_counter()
            if not self.outcome.interrupted:
                self.replayer.finish()
                self._close_alert_windows()
            await self.save(done=not self.outcome.interrupted)
        except BaseException:
            await self._save_quietly()
            raise
        finally:
            self.outcome.seconds = time.perf_counter() - started

    async def _batch(self, active: set[TopicPartition], max_messages: int | None) -> bool:
        """One fetch; True when ``max_messages`` was reached (a simulated interruption)."""
        batches = await self.consumer.getmany(*active, timeout_ms=1000, max_records=5000)
        for tp, messages in batches.items():
            end = self.ranges[tp].end
            for message in messages:
                if message.offset >= end:
                    break
                self.replayer.message(tp.partition, message.offset, message.key, message.value, message.headers)
                self.outcome.read += 1
                if max_messages is not None and self.outcome.read >= max_messages:
                    return True
            self.replayer.batch_done(tp.partition)
            if await self.consumer.position(tp) >= end or (messages and messages[-1].offset >= end - 1):
                active.discard(tp)
                self.consumer.pause(tp)
        return False

    def _signal(self, partition: int, agent_id: str, kind: str, ts: float | None) -> None:
        if self.detector is not None:
            self.outcome.alerts += self.detector.observe(partition, agent_id, kind, ts)

    def _close_alert_windows(self) -> None:
        """The end of the range: every partition has said all it will (as idle partitions do live)."""
        if self.detector is not None:
            for r in self.ranges.values():
                self.outcome.alerts += self.detector.set_idle(r.partition)

    def _done(self) -> int:
        nexts = self.replayer.next_offset
        return sum(max(0, min(nexts.get(tp.partition, r.start), r.end) - r.start) for tp, r in self.ranges.items())

    async def save(self, *, done: bool) -> None:
        await self.output.commit()
        if self.path is None:
            return
        ranges = list(self.ranges.values())
        resume = {r.partition: self.replayer.restart_offset(r.partition, self.read_from[r.partition]) for r in ranges}
        position = {r.partition: self.replayer.next_offset.get(r.partition, self.read_from[r.partition])
                    for r in ranges}
        cp.save(self.path, cp.Checkpoint(key=self.key, ranges=ranges, resume=resume, position=position, done=done))

    async def _save_quietly(self) -> None:
        with contextlib.suppress(Exception):  # the original error matters more than a failed checkpoint
            await self.save(done=False)
