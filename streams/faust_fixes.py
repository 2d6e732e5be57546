"""Fixes for faust-streaming 0.15.3's consumer bookkeeping: input lost or commits crawling after a rebalance.

Found by the two-worker takeover fault test (about one run in ten lost input) and the SIGKILL restart
test (commits crawling for 30-100 s in about one restart in four); diagnosed with per-message traces
of fetch, delivery, ack and commit in the worker. Faust drops records it has already fetched whenever
flow control is suspended (a rebalance, or table recovery after one): ``Consumer.getmany`` stops
iterating a fetched batch, and ``_drain_messages`` abandons the message whose delivery was waiting.
It relies on ``perform_seek`` (at assignment and again when recovery resumes the streams) to fetch
them again from the committed offset. Four defects break that:

1. ``perform_seek`` does not seek a partition that has no committed offset yet (a partition the dead
   worker owned but never committed). The fetch position stays past the dropped records, and nothing
   rewinds it: they are never processed. Fix: seek such partitions to where the group would start
   (the log start for ``auto_offset_reset=earliest``) and make that offset the commit baseline.
2. Without a baseline (``_committed_offset`` is None), ``_new_offset`` has no head check, so the next
   commit jumps over the dropped records (the takeover test saw a whole partition's backlog, or one
   message in the middle of it, committed unprocessed). The baseline of (1) restores the check.
3. Acks that arrive after a rebalance started (a batch that finished meanwhile, or Faust acking the
   messages it skipped because their generation is gone) are recorded for the new assignment. They
   may mark offsets the new generation has not processed yet as done, and they put duplicates in the
   sorted list of acked offsets, which splits the consecutive run Faust commits, so each commit
   advances by one offset (the "slow commit catch-up"). Fix: ignore acks while flow is suspended or
   from an older generation, and keep the acked list free of duplicates. An ignored ack costs a
   redelivery (the new generation starts from the committed offset), never a message: processing is
   idempotent by trajectory id and seq.

4. ``FlowControlEvent.resume`` (mode) empties every stream queue, also when the flow is already
   running. When a rebalance needs no table recovery, Faust resumes the flow, then seeks to the
   committed offsets, then resumes again: records delivered in between are emptied out of the
   queue after the seek that would have fetched them again. Fix: empty the queues only when the
   flow was actually suspended (a rebalance suspends and empties them anyway).

``apply()`` patches ``faust.transport.consumer.Consumer`` and ``mode.utils.queues.FlowControlEvent``
once; ``create_app`` calls it. The patches replace private methods of these exact versions, which
is why pyproject.toml pins faust-streaming exactly: before moving the pin, reread the four methods
upstream and rerun the fault tests (tests/integration/test_fault_*.py) in a loop.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from faust.transport import consumer as faust_consumer
from faust.types import TP
from faust.types.tuples import ack_lock
from faust.utils.functional import consecutive_numbers
from mode.utils.futures import notify
from mode.utils.queues import FlowControlEvent

log = logging.getLogger(__name__)
_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    faust_consumer.Consumer.perform_seek = perform_seek  # type: ignore[method-assign]
    faust_consumer.Consumer._new_offset = new_offset  # type: ignore[method-assign]
    faust_consumer.Consumer.ack = ack  # type: ignore[method-assign]
    FlowControlEvent.resume = resume_flow  # type: ignore[method-assign]
    _applied = True


async def perform_seek(self: Any) -> None:
    """Seek every assigned partition to its committed offset -- or, without one, to its start (1)."""
    committed = {faust_consumer.ensure_TP(tp): offset for tp, offset in (await self.seek_to_committed()).items()}
    unset = [tp for tp, offset in committed.items()
             if (offset is None or offset <= 0) and _tracks_acks(self, tp)]
    if unset:
        starts = await _start_offsets(self, unset)
        log.info("no committed offset: seeking %s", {f"{tp.topic}[{tp.partition}]": starts[tp] for tp in unset})
        for tp in unset:
            await self._seek(tp, starts[tp])
            committed[tp] = starts[tp]
    for tp, offset in committed.items():
        self._read_offset[tp] = offset if offset is not None and offset >= 0 else None
        if offset is not None and offset >= 0:
            self._committed_offset[tp] = offset


async def _start_offsets(self: Any, tps: list[TP]) -> Mapping[TP, int]:
    if self.app.conf.consumer_auto_offset_reset == "latest":
        found = await self.highwaters(*tps)
    else:
        found = await self.earliest_offsets(*tps)
    return {faust_consumer.ensure_TP(tp): int(offset or 0) for tp, offset in found.items()}


def _tracks_acks(self: Any, tp: TP) -> bool:
    return bool(self.app.topics.acks_enabled_for(tp.topic)) and not self._is_changelog_tp(tp)


def new_offset(self: Any, tp: TP) -> int | None:
    """The offset to commit for ``tp``: the end of the run of acked offsets that starts at the
    committed one (2, 3). Faust's own logic, with duplicates removed."""
    acked = self._acked[tp]
    if not acked:
        return None
    gaps = self._gap[tp]
    if gaps:  # offsets known not to exist (compaction, transaction markers) count as acked
        max_offset = max(acked)
        ranges = sorted(gaps.overlap(0, max_offset), key=lambda interval: interval.begin)
        if ranges:
            filled = [offset for interval in ranges for offset in range(interval.begin, interval.end)]
            acked.extend(filled)
            gaps.chop(0, max(filled[-1], max_offset + 1))
    acked[:] = sorted(set(acked))
    committed = self._committed_offset[tp]
    if committed is not None and acked[0] - committed > 1:  # Faust's head check (0 is a baseline too)
        return None
    run = next(consecutive_numbers(acked))
    del acked[: len(run)]
    self._acked_index[tp].difference_update(run)
    return int(run[-1]) + 1


def ack(self: Any, message: Any) -> bool:
    """Record that the stream is done with ``message`` -- unless a rebalance made the ack stale (3)."""
    with ack_lock:
        if message.acked:
            return False
        message.acked = True
        app = self.app
        stale = message.generation_id != app.consumer_generation_id or not app.flow_control.is_active()
        if stale:
            self._unacked_messages.discard(message)
            notify(self._waiting_for_ack)
            return False
        tp, offset = message.tp, message.offset
        try:
            if app.topics.acks_enabled_for(message.topic):
                committed = self._committed_offset[tp]
                self._unacked_messages.discard(message)
                if (committed is None or offset >= committed) and offset not in self._acked_index[tp]:
                    self._acked_index[tp].add(offset)
                    self._acked[tp].append(offset)
                    self._n_acked += 1
                    return True
        finally:
            notify(self._waiting_for_ack)
        return False


def resume_flow(self: Any) -> None:
    """Resume production into the managed queues; empty them only if the flow was suspended (4)."""
    was_suspended = self._suspend.is_set()
    self._suspend.clear()
    self._resume.set()
    if was_suspended:
        self.clear()
