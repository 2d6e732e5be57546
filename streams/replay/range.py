"""Replay bounds -> per-partition offset ranges (manual assignment, no consumer group).

A bound is ``beginning``, ``end`` (the end offsets captured now, so a replay stops), an offset
(the same absolute offset on every partition, clamped to what the partition holds) or an ISO 8601
time (``offsets_for_times``: the first message at or after it; naive times are UTC). The lookback
offset is the first message at or after (start time - lookback); for an offset bound the start
time is the timestamp of the message at that offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition

from streams.errors import CliError
from streams.replay.checkpoint import Range


@dataclass(frozen=True)
class Bound:
    kind: str  # beginning | end | offset | time
    value: float = 0.0  # the offset, or Unix milliseconds


def parse_bound(text: str) -> Bound:
    word = text.strip().lower()
    if word in ("beginning", "end"):
        return Bound(word)
    if word.isdigit():
        return Bound("offset", int(word))
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CliError("beginning, end, an offset or an ISO 8601 time", repr(text),
                       "e.g. --from 2025-01-31T12:00:00Z or --from 0") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Bound("time", moment.timestamp() * 1000)


async def partitions_of(consumer: Any, topic: str, wanted: list[int] | None) -> list[TopicPartition]:
    # aiokafka's public partitions_for_topic only knows subscribed topics: ask the cluster itself
    from streams.worker.faust_fixes import all_metadata  # the private-API helpers live there
    cluster = await all_metadata(consumer)
    available = sorted(cluster.partitions_for_topic(topic) or ())
    if not available:
        raise CliError(f"an existing topic {topic!r}", "no such topic", "check --topic-events / SIGNALS_TOPIC_EVENTS")
    missing = sorted(set(wanted or ()) - set(available))
    if missing:
        raise CliError(f"partitions among {available}", str(missing), "fix --partitions")
    return [TopicPartition(topic, p) for p in (wanted or available)]


async def resolve(consumer: Any, tps: list[TopicPartition], start: Bound, stop: Bound,
                  lookback_s: float) -> list[Range]:
    """The ranges of ``tps`` (already assigned to ``consumer``)."""
    first = await consumer.beginning_offsets(tps)
    last = await consumer.end_offsets(tps)
    starts = await _offsets(consumer, tps, start, first, last)
    ends = await _offsets(consumer, tps, stop, first, last)
    out = []
    for tp in tps:
        begin, end = starts[tp], max(starts[tp], ends[tp])
        since = await _lookback(consumer, tp, start, begin, end, first[tp], lookback_s)
        out.append(Range(tp.partition, since, begin, end))
    return out


async def _offsets(consumer: Any, tps: list[TopicPartition], bound: Bound,
                   first: dict[Any, int], last: dict[Any, int]) -> dict[Any, int]:
    if bound.kind == "beginning":
        return dict(first)
    if bound.kind == "end":
        return dict(last)
    if bound.kind == "offset":
        return {tp: min(max(int(bound.value), first[tp]), last[tp]) for tp in tps}
    found = await consumer.offsets_for_times({tp: int(bound.value) for tp in tps})
    return {tp: last[tp] if found.get(tp) is None else found[tp].offset for tp in tps}


async def _lookback(consumer: Any, tp: TopicPartition, start: Bound, begin: int, end: int,
                    first: int, lookback_s: float) -> int:
    if start.kind == "beginning" or lookback_s <= 0 or begin <= first or begin >= end:
        return begin
    start_ms = start.value if start.kind == "time" else await _timestamp_at(consumer, tp, begin)
    found = await consumer.offsets_for_times({tp: max(0, int(start_ms - lookback_s * 1000))})
    return min(begin, found[tp].offset) if found.get(tp) is not None else begin


async def _timestamp_at(consumer: Any, tp: TopicPartition, offset: int) -> float:
    consumer.seek(tp, offset)
    batch = await consumer.getmany(tp, timeout_ms=10_000, max_records=1)
    messages = batch.get(tp) or []
    if not messages:
        raise CliError(f"a message at offset {offset} of partition {tp.partition}", "none within 10 s",
                       "check the broker or pass --lookback 0")
    return float(messages[0].timestamp)
