"""Fixes for faust-streaming 0.15.3's consumer bookkeeping: input lost or commits crawling after a rebalance,
and a stop that could wait forever.

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

5. ``Consumer.wait_empty`` (before a rebalance and when the worker stops) waits, with no time limit,
   until every message a stream has taken is acked or garbage collected; one message that something
   still holds and will never ack (see RELIABILITY.md "Stopping") keeps a stopping worker alive
   forever, holding its ports, until a supervisor kills it. Fix: when the worker is stopping
   (``set_wait_deadline``, streams/worker/shutdown.py) the wait ends at a deadline and what is still in hand
   stays uncommitted. A rebalance still waits as before (a deadline there would let two members
   process the same partition).

6. ``FlowControlEvent.clear`` (when a rebalance or a stop suspends the flow) empties the stream queues
   without releasing the events it drops. A message is delivered to every agent of its topic with one
   reference each (``message.incref(len(channels))`` in the conductor); a copy dropped from one queue
   keeps its reference for good, so a message another agent already took and acked never becomes
   ``acked``. ``wait_empty`` then waits for it as long as anything keeps it alive -- and the ingest
   agent does: ``async for batch in stream.take_events(...)`` keeps its last batch in ``batch`` while
   it waits for a next batch that never comes (the fetcher is stopped). That is issue 15's hang: SIGTERM
   while the ClickHouse events agent (the second agent on the events topic) is behind the ingest agent,
   i.e. busy with a write as the last records go out; wait_empty waits forever for the last batch of
   one partition, refcount 1. Fix: while the flow is suspended, ``clear`` releases (acks) each event it
   drops, for its own queue. The ack is stale (3): recorded as done, never committed.

7. Not a defect: a hook. ``Consumer._commit_tps`` first calls the app's ``before_commit`` callbacks, so
   that state written behind (the ingest agent's ``TableStore`` keeps the sessions it saved since the
   last commit and writes each one to the table once, here) is in the producer's buffer before the
   commit sends it (10) and commits the offsets: the changelog always holds at least the state of every
   committed offset. One changelog message per trajectory per commit instead of one per batch: in live
   traffic (one event per trajectory per batch) that took the worker from 281 to 210 CPU µs per event
   (``bench/bench_ceiling.py --concurrent 500``, README).

8. A stop during the first group join (SIGTERM right after start, as on a quick redeploy) could wait
   for the full ``SIGNALS_SHUTDOWN_TIMEOUT_S`` and end with ``EXIT_TIMEOUT`` (3 runs in 60 of
   tests/integration/test_shutdown.py's port test). When an assignment reaches a stopping app,
   ``App._on_partitions_assigned`` calls ``consumer.close()``, which runs the aiokafka client's and
   coordinator's ``close()`` on the app's (main) event loop, though both belong to the consumer
   thread's loop: the coordinator's ``_closing`` future is resolved from the wrong thread and the
   connections are closed under the thread loop's feet. The stop dump of every such run showed the
   consumer thread's coordination task still in ``threadsafe_partitions_assigned`` and its stop in
   ``GroupCoordinator.close`` waiting for that task, while the main loop waited for the thread.
   Fix: a rebalance that arrives while the app stops does nothing; the consumer thread's own stop
   (``on_thread_stop`` -> ``AIOKafkaConsumer.stop``, on its own loop) closes the consumer and
   leaves the group.

9. Not a defect: cost. ``Consumer._drain_messages`` delivered each message with
   ``wait_first(callback(message), suspend_flow.wait())``: four tasks (the delivery, the suspend flag,
   the service's stopped and crashed events), an ``asyncio.wait`` and three cancellations per message,
   about a fifth of a bare Faust agent's CPU (py-spy). The replacement is Faust's loop statement for
   statement except the delivery (``deliver``): it runs the callback in the fetch loop's own task up
   to its first wait. Almost every delivery never waits (the stream's queue has room) and ends there,
   no task made. One that does wait (a full queue, a paused flow) goes on under the same
   ``wait_first`` as before, so a rebalance or a stop abandons it exactly as Faust did. Measured on a
   bare Faust agent: CPU per message 0.6x (README "Measured").

10. A stop crashed the worker (exit 1) when Faust's producer buffer still held table changelog writes
   (``table[key] = ...`` queues them; a task hands them to aiokafka one by one): Faust's aiokafka
   ``Producer.on_stop`` closes the aiokafka producer before it stops the buffer, whose task then sends
   to a closed producer (``ProducerClosed``) and crashes the app. Seen under load (CI, and 1 run in 10 of
   tests/integration/test_shutdown.py's mid-batch test with two busy cores beside it): the ingest's
   last commit put more changelog writes in the buffer than a slow broker took before the stop. And a
   commit did not wait for those writes at all (``_commit_tps`` never flushes the buffer): an offset could
   be committed before the state it produced was in the changelog, so a crash right after lost that
   state. Fix: a commit first waits until the buffer has handed aiokafka every write queued before the
   commit (a marker queued behind them: agents that keep writing meanwhile do not hold the commit
   back) and aiokafka has sent everything (``flush_producer``), and commits nothing if it cannot, the
   offsets chosen before that wait (an ack
   during it belongs to a session not written yet); a stopping producer lets the buffer send what
   it can for ``PRODUCER_STOP_FLUSH_S``, drops the rest (written after the last commit, so its offsets
   are uncommitted and a restart replays them) and stops the buffer before closing aiokafka.

``apply()`` patches ``faust.transport.consumer.Consumer``, ``faust.App`` and ``mode.utils.queues.FlowControlEvent``
once; ``create_app`` calls it. The patches replace private methods of these exact versions, which
is why pyproject.toml pins faust-streaming and mode-streaming exactly, and why ``apply()`` first
checks (``check()``) the installed versions and a fingerprint (sha256 of the source) of every
original it replaces: on any difference it raises ``IncompatibleFaust`` naming what changed, and
the worker refuses to start. Before moving a pin, reread the replaced methods upstream, rerun the
fault tests (tests/integration/test_fault_*.py, test_shutdown*.py) in a loop, then record the new
fingerprints (``python -m streams.worker.faust_fixes`` prints them).

The other private Faust / aiokafka APIs the project uses live here too, so that this module is the
one place to look when a dependency moves: ``set_current_event`` (the table partition of a write,
``faust.streams._current_event``) and ``all_metadata`` (aiokafka's ``consumer._client``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import hashlib
import inspect
import logging
import textwrap
import time
import weakref
from collections.abc import Callable, Coroutine, Generator, Mapping
from importlib import metadata
from typing import Any

import faust
from faust.exceptions import ProducerSendError
from faust.streams import _current_event
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, EventT
from faust.types.tuples import ack_lock
from faust.utils.functional import consecutive_numbers
from mode.utils.futures import notify
from mode.utils.queues import FlowControlEvent

log = logging.getLogger(__name__)
_applied = False

# The versions the fixes were written against (pyproject.toml pins both exactly).
VERSIONS = {"faust-streaming": "0.15.3", "mode-streaming": "0.7.1"}
EVIDENCE = ("RELIABILITY.md (the fixed consumer defects and their evidence), tests/unit/test_faust_fixes.py, "
            "tests/integration/test_fault_*.py and test_shutdown*.py")


def _patches() -> dict[str, tuple[Any, str, Callable[..., Any], str]]:
    """name -> (class, attribute, replacement, sha256[:16] of the ORIGINAL's source) for every patch."""
    consumer = faust_consumer.Consumer
    return {
        "faust Consumer.perform_seek": (consumer, "perform_seek", perform_seek, "2b4ceebd23deb7ee"),
        "faust Consumer._new_offset": (consumer, "_new_offset", new_offset, "2b29afe4dd9a65a3"),
        "faust Consumer.ack": (consumer, "ack", ack, "5548cf0f75843f73"),
        "faust Consumer.wait_empty": (consumer, "wait_empty", wait_empty, "53195dca246c0a86"),
        "faust Consumer._commit_tps": (consumer, "_commit_tps", commit_tps, "b83d551c32787010"),
        "mode FlowControlEvent.resume": (FlowControlEvent, "resume", resume_flow, "da6fc70c770ea01b"),
        "mode FlowControlEvent.clear": (FlowControlEvent, "clear", clear_flow, "ad25d8fa610ebf2a"),
        "faust App._on_rebalance_when_stopped": (faust.App, "_on_rebalance_when_stopped", rebalance_when_stopped,
                                                 "603ccb5e2c261c23"),
        "faust Consumer._drain_messages": (consumer, "_drain_messages", drain_messages, "8f35dd7a11144daa"),
        "faust aiokafka Producer.on_stop": (faust_aiokafka.Producer, "on_stop", stop_producer, "49f75b1337f508ce"),
    }


class IncompatibleFaust(RuntimeError):
    """The installed faust-streaming / mode-streaming is not the one streams/worker/faust_fixes.py patches."""


def fingerprint(function: Any) -> str:
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return "no-source"
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def problems() -> list[str]:
    """What differs from the versions and originals the fixes were written for (empty: all as expected)."""
    found = []
    for package, want in VERSIONS.items():
        try:
            got = metadata.version(package)
        except metadata.PackageNotFoundError:
            got = "not installed"
        if got != want:
            found.append(f"{package} is {got}, the fixes were written for {want}")
    for name, (_, _, _, want) in _patches().items():
        got = fingerprint(_ORIGINALS[name])
        if got != want:
            found.append(f"{name} changed (source fingerprint {got}, expected {want})")
    return found


def check() -> None:
    if found := problems():
        raise IncompatibleFaust(
            "refusing to start: streams/worker/faust_fixes.py replaces private faust/mode methods, and "
            + "; ".join(found) + ". Reread those methods upstream against the fixes, rerun the fault tests "
            f"in a loop, then update VERSIONS and the fingerprints (python -m streams.worker.faust_fixes). Evidence: {EVIDENCE}.")


def apply() -> None:
    global _applied
    if _applied:
        return
    check()
    for cls, attr, replacement, _ in _patches().values():
        setattr(cls, attr, replacement)
    _applied = True


def installed() -> dict[str, bool]:
    """name -> whether the patch is in place (for the test that create_app installed every one)."""
    return {name: getattr(cls, attr) is replacement for name, (cls, attr, replacement, _) in _patches().items()}


# -- the other private APIs ------------------------------------------------------------------------

def set_current_event(event: Any) -> None:
    """Make ``event`` the current one of this task: Faust sends a table write to its partition."""
    _current_event.set(weakref.ref(event))


async def all_metadata(consumer: Any) -> Any:
    """Cluster metadata of every topic through an aiokafka consumer (no public API for it)."""
    return await consumer._client.fetch_all_metadata()


def committed_offsets(consumer: Any) -> dict[TP, int]:
    """The offsets Faust's consumer last committed (or started from), per partition."""
    if consumer is None:
        return {}
    return {tp: offset for tp, offset in dict(consumer._committed_offset).items() if offset is not None}


def highwaters(consumer: Any) -> dict[TP, int]:
    """The high-water mark last fetched for each assigned partition (the end of what could be read)."""
    out: dict[TP, int] = {}
    if consumer is None:
        return out
    try:
        assignment = consumer.assignment()
    except Exception:  # not started, or already stopped
        return out
    for tp in assignment:
        if consumer._is_changelog_tp(tp):
            continue
        try:
            highwater = consumer.highwater(tp)
        except Exception:
            highwater = None
        out[tp] = int(highwater or 0)  # nothing fetched yet: 0
    return out


def unacked_count(consumer: Any) -> int:
    """Messages delivered to a stream and not acked (yet)."""
    if consumer is None:
        return 0
    return sum(1 for message in list(consumer._unacked_messages) if not message.acked)


def set_wait_deadline(app: Any, seconds: float) -> None:
    """From now on, ``wait_empty`` (5) waits at most ``seconds`` more."""
    app._signals_wait_deadline = time.monotonic() + seconds


def before_commit(app: Any, callback: Callable[[], Any]) -> None:
    """Call ``callback`` (synchronous) at the start of every offset commit of ``app``'s consumer (7)."""
    callbacks = getattr(app, "_signals_before_commit", None)
    if callbacks is None:
        callbacks = app._signals_before_commit = []
    callbacks.append(callback)


async def commit_tps(self: Any, tps: Any, start_new_transaction: bool) -> bool:
    """Faust's ``_commit_tps`` after the app's ``before_commit`` callbacks (7), statement for statement,
    with one step added (10): before the offsets go out, everything produced so far is sent. The
    offsets are chosen right after the callbacks, with no wait between: what is acked while the
    producer flushes is in no state written yet, so it waits for the next commit."""
    for callback in getattr(self.app, "_signals_before_commit", ()):
        callback()
    commit_offsets = self._filter_committable_offsets(tps)
    if commit_offsets:
        if not await flush_producer(self.app.producer):  # (10)
            log.warning("not committing: the producer stopped with %d messages unsent; their offsets stay "
                        "uncommitted", self.app.producer.buffer.size)
            return False
        try:
            await self._handle_attached(commit_offsets)
        except ProducerSendError as exc:
            await self.crash(exc)
        else:
            return bool(await self._commit_offsets(commit_offsets, start_new_transaction=start_new_transaction))
    return False


PRODUCER_STOP_FLUSH_S = 2.0  # how long a stopping producer lets its buffer send what it holds (10)


def buffer_idle(buffer: Any) -> bool:
    """Faust's producer buffer holds nothing and its task is not in the middle of a send: it waits
    for the next message (``asyncio.Queue._getters``: the task blocked in ``pending.get()``)."""
    return buffer.size == 0 and bool(getattr(buffer.pending, "_getters", ()))


class SentMarker:
    """Queued in the producer buffer behind what it holds: its task hands messages to their channel
    (``fut.message.channel.publish_message``) one at a time in order, so once it reaches the marker
    every message queued before it has been handed to aiokafka (10)."""

    def __init__(self) -> None:
        self.message = self  # the buffer's task calls fut.message.channel.publish_message(fut)
        self.channel = self
        self.reached = asyncio.Event()

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        self.reached.set()


async def drain_buffer(buffer: Any, until: float | None = None) -> bool:
    """Wait until every message in ``buffer`` now has been handed to aiokafka (10), not for the ones
    put meanwhile; False if the buffer stops (or crashes) first, or at ``until`` (``time.monotonic``)."""
    if buffer_idle(buffer):
        return True
    marker = SentMarker()
    buffer.pending.put_nowait(marker)
    while not marker.reached.is_set():
        if buffer.state != "running" or (until is not None and time.monotonic() >= until):
            return False
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(marker.reached.wait(), 0.1)
    return True


async def flush_producer(producer: Any) -> bool:
    """Everything the app produced before this call (table changelog writes included) is sent and
    acked (10); False if the producer stopped with messages it can no longer send. Faust's
    ``Producer.flush`` without its first step (the buffer's own flush, which waits until nothing at all
    is queued: never, while agents keep writing)."""
    if not await drain_buffer(producer.buffer):
        return False
    if producer.buffer.state != "running":
        return False
    senders = [producer._producer, *producer._transaction_producers.values()]
    for sender in senders:
        if sender is not None:
            await sender.flush()  # aiokafka: waits for the batches it holds now, each acked or failed
    return True


async def stop_producer(self: Any) -> None:
    """Faust's aiokafka ``Producer.on_stop`` once the buffer has sent what it could and stopped (10)."""
    buffer = self.buffer
    await drain_buffer(buffer, time.monotonic() + PRODUCER_STOP_FLUSH_S)
    dropped = 0
    while buffer.pending.qsize():
        dropped += not isinstance(buffer.pending.get_nowait(), SentMarker)
    if dropped:
        log.warning("stopping: dropped %d unsent producer messages (changelog writes after the last "
                    "commit: their offsets are uncommitted, a restart replays them)", dropped)
    await buffer.stop()  # cancels its task, which may be waiting in a send, before aiokafka closes
    await _ORIGINALS["faust aiokafka Producer.on_stop"](self)


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


async def wait_empty(self: Any) -> None:
    """Faust's wait for every delivered message to be acked (before a rebalance or a stop), with an
    end when the worker is stopping (5): at the deadline set by ``set_wait_deadline`` the messages
    still in hand are abandoned, uncommitted (their partitions' next owner reads them again)."""
    wait_count = 0
    while not self.should_stop and self._unacked_messages:
        deadline = getattr(self.app, "_signals_wait_deadline", None)
        if deadline is not None and time.monotonic() >= deadline:
            log.warning("stopping: gave up waiting for %d delivered messages; they stay uncommitted",
                        unacked_count(self))
            break
        wait_count += 1
        if not wait_count % 10:
            remaining = [(m.refcount, m) for m in self._unacked_messages]
            log.warning("wait_empty: Waiting for tasks %r", remaining)
            log.info("Agent tracebacks:\n%s", self.app.agents.human_tracebacks())
        gc.collect()
        await self.commit()
        if not self._unacked_messages:
            break
        await self._wait_for_ack(timeout=1)
        self._clean_unacked_messages()
    await self.commit_and_end_transactions()


def resume_flow(self: Any) -> None:
    """Resume production into the managed queues; empty them only if the flow was suspended (4)."""
    was_suspended = self._suspend.is_set()
    self._suspend.clear()
    self._resume.set()
    if was_suspended:
        self.clear()


def clear_flow(self: Any) -> None:
    """Empty the managed queues; while the flow is suspended, release every event dropped (6)."""
    suspended = self._suspend.is_set()
    for queue in self._queues:
        if suspended:
            release_queued(queue)
        queue.clear()


def release_queued(queue: Any) -> int:
    """Ack, for this queue's channel, each event waiting in ``queue`` (it will never be read)."""
    released = 0
    for item in list(getattr(queue, "_queue", ())):
        if isinstance(item, EventT):
            item.ack()  # one reference; the last one makes the message acked (a stale ack: not committed)
            released += 1
    return released


def rebalance_when_stopped(self: Any) -> None:
    """An assignment or revocation reached a stopping app: nothing to do here (8); the consumer
    thread's stop closes the consumer on its own loop."""
    log.warning("a rebalance arrived while stopping: left to the consumer thread's own stop")


async def drain_messages(self: Any, fetcher: Any) -> None:  # pragma: no cover (the consumer's fetch loop)
    """Faust's fetch loop, delivering each message without a task when nothing blocks it (9).
    Faust's own statements, in its order; only the delivery differs (``deliver``)."""
    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for
    yield_every, num_since_yield, sleep = 100, 0, asyncio.sleep
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(faust_consumer.CONSUMER_FETCHING)
            ait = getmany(timeout=1.0)
            await self.sleep(0)  # getmany may be called in a loop that never releases the event loop
            if not self.should_stop:
                async for tp, message in ait:
                    num_since_yield += 1
                    if num_since_yield > yield_every:
                        await sleep(0)
                        num_since_yield = 0
                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        if gap > 1 and r_offset and acks_enabled_for(message.topic):
                            await self._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        await deliver(self, callback(message))
                        set_read_offset(tp, offset)
                    else:
                        self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, message.key, message.value)
                unset_flag(faust_consumer.CONSUMER_FETCHING)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(faust_consumer.CONSUMER_FETCHING)


async def deliver(self: Any, delivery: Coroutine[Any, Any, Any]) -> None:
    """Run one message's delivery (the conductor's callback) up to its first wait, in this task. Most
    deliveries never wait (the stream's queue has room): they end here, where Faust made four tasks
    for each (``wait_first(callback(message), suspend_flow.wait())``, plus the service's stopped and
    crashed events) and cancelled three. One that waits (a full queue, paused flow, a full producer
    buffer) goes on under Faust's ``wait_first``, abandoned as before when a rebalance suspends the
    flow or the consumer stops."""
    try:
        waiting_for = delivery.send(None)
    except StopIteration:
        return
    except BaseException:
        delivery.close()
        raise
    await self.wait_first(_Rest(delivery, waiting_for), self.suspend_flow.wait())


class _Rest:
    """The rest of a coroutine that is waiting for ``waiting_for`` (what it yielded), as an awaitable:
    the task that awaits it drives the coroutine on exactly as if it had run it from the start."""

    __slots__ = ("coroutine", "waiting_for")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], waiting_for: Any) -> None:
        self.coroutine, self.waiting_for = coroutine, waiting_for

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, waiting_for = self.coroutine, self.waiting_for
        while True:
            try:
                sent = yield waiting_for
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # the awaiting task was cancelled (or thrown into): pass it on
                step = functools.partial(coroutine.throw, exc)
            else:
                step = functools.partial(coroutine.send, sent)
            try:
                waiting_for = step()
            except StopIteration as stop:
                return stop.value


# The originals, taken when this module is first imported (before ``apply`` replaces them).
_ORIGINALS: dict[str, Any] = {name: getattr(cls, attr) for name, (cls, attr, _, _) in _patches().items()}

if __name__ == "__main__":
    for name, (_, _, _, want) in _patches().items():
        print(f"{name}: {fingerprint(_ORIGINALS[name])} (recorded {want})")
