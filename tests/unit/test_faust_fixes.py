"""The consumer bookkeeping fixes (streams/worker/faust_fixes.py) on a stand-in consumer: seeks, commits, acks.

The end-to-end evidence is the two-worker takeover and SIGKILL fault tests; these pin each rule.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import mode
import pytest
from faust.types import TP
from intervaltree import IntervalTree
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from streams.worker import faust_fixes

EVENTS = "agent-events"
CHANGELOG = "app-sessions-changelog"


class FakeConsumer:
    """The attributes of faust's Consumer that the fixes read and write."""

    def __init__(self, committed: dict[TP, int | None] | None = None, starts: dict[TP, int] | None = None,
                 generation: int = 3, flow_active: bool = True, reset: str = "earliest") -> None:
        self.kafka_committed = committed or {}
        self.starts = starts or {}
        self.seeks: list[tuple[TP, int]] = []
        self._read_offset: dict[TP, int | None] = defaultdict(lambda: None)
        self._committed_offset: dict[TP, int | None] = defaultdict(lambda: None)
        self._acked: dict[TP, list[int]] = defaultdict(list)
        self._acked_index: dict[TP, set[int]] = defaultdict(set)
        self._gap: dict[TP, IntervalTree] = defaultdict(IntervalTree)
        self._unacked_messages: set[Any] = set()
        self._waiting_for_ack = None
        self._n_acked = 0
        flow = SimpleNamespace(is_active=lambda: flow_active)
        topics = SimpleNamespace(acks_enabled_for=lambda topic: topic == EVENTS)
        conf = SimpleNamespace(consumer_auto_offset_reset=reset)
        self.app = SimpleNamespace(consumer_generation_id=generation, flow_control=flow, topics=topics, conf=conf)

    async def seek_to_committed(self) -> dict[TP, int | None]:
        return dict(self.kafka_committed)

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.starts.get(tp, 0) for tp in tps}

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        return {tp: 1000 for tp in tps}

    async def _seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))

    def _is_changelog_tp(self, tp: TP) -> bool:
        return tp.topic == CHANGELOG

    perform_seek = faust_fixes.perform_seek
    new_offset = faust_fixes.new_offset
    ack = faust_fixes.ack


class Message:
    def __init__(self, offset: int, generation: int) -> None:
        self.topic, self.tp, self.offset = EVENTS, TP(EVENTS, 0), offset
        self.generation_id, self.acked = generation, False
        self.refcount = 1  # as Faust's: wait_empty's periodic log line reads it


def message(offset: int, *, generation: int = 3) -> Message:
    return Message(offset, generation)


P0, P1 = TP(EVENTS, 0), TP(EVENTS, 1)


# -- (1) seeking -----------------------------------------------------------------------------------

def test_a_partition_never_committed_is_sought_to_its_start_and_that_start_becomes_the_baseline() -> None:
    log = TP(CHANGELOG, 0)
    consumer = FakeConsumer(committed={P0: 40, P1: None, log: None}, starts={P1: 7})
    asyncio.run(consumer.perform_seek())
    assert consumer.seeks == [(P1, 7)]  # the changelog is recovery's business, P0 is sought by kafka
    assert consumer._committed_offset[P0] == 40
    assert consumer._committed_offset[P1] == 7
    assert consumer._read_offset[P1] == 7
    assert consumer._committed_offset[log] is None


def test_with_auto_offset_reset_latest_the_start_is_the_high_watermark() -> None:
    consumer = FakeConsumer(committed={P0: None}, reset="latest")
    asyncio.run(consumer.perform_seek())
    assert consumer.seeks == [(P0, 1000)]


# -- (2) committing --------------------------------------------------------------------------------

def test_commit_runs_from_the_baseline_through_consecutive_acks() -> None:
    consumer = FakeConsumer()
    consumer._committed_offset[P0] = 10
    consumer._acked[P0] = [12, 10, 11, 14]
    assert consumer.new_offset(P0) == 13
    assert consumer._acked[P0] == [14]


def test_no_commit_jumps_over_offsets_missing_at_the_head() -> None:
    consumer = FakeConsumer()
    consumer._committed_offset[P0] = 0  # a baseline of 0 holds too (faust treated 0 as "no baseline")
    consumer._acked[P0] = [5, 6, 7]
    assert consumer.new_offset(P0) is None
    assert consumer._acked[P0] == [5, 6, 7]


def test_duplicate_acks_do_not_split_the_run_so_one_commit_covers_it() -> None:
    consumer = FakeConsumer()
    consumer._committed_offset[P0] = 0
    consumer._acked[P0] = [0, 1, 1, 2, 2, 3, 3, 4]
    assert consumer.new_offset(P0) == 5
    assert consumer._acked[P0] == []


def test_offsets_known_not_to_exist_count_as_acked() -> None:
    consumer = FakeConsumer()
    consumer._committed_offset[P0] = 0
    consumer._acked[P0] = [0, 1, 5, 6]
    consumer._gap[P0].addi(2, 5)  # 2, 3, 4: compacted away
    assert consumer.new_offset(P0) == 7


# -- (3) acking ------------------------------------------------------------------------------------

def test_an_ack_in_the_current_generation_is_recorded_once() -> None:
    consumer = FakeConsumer()
    first, again = message(4), message(4)
    consumer._unacked_messages.update({first, again})
    assert consumer.ack(first) is True
    assert consumer.ack(again) is False  # a redelivered copy of the same offset
    assert consumer._acked[P0] == [4]
    assert not consumer._unacked_messages


def test_an_ack_from_an_older_generation_is_ignored() -> None:
    consumer = FakeConsumer(generation=4)
    old = message(4, generation=3)
    consumer._unacked_messages.add(old)
    assert consumer.ack(old) is False
    assert consumer._acked[P0] == []
    assert old.acked and not consumer._unacked_messages  # done with, so shutdown does not wait for it


def test_an_ack_while_a_rebalance_suspends_the_flow_is_ignored() -> None:
    consumer = FakeConsumer(flow_active=False)
    assert consumer.ack(message(4)) is False
    assert consumer._acked[P0] == []


def test_an_ack_below_the_committed_offset_is_not_recorded() -> None:
    consumer = FakeConsumer()
    consumer._committed_offset[P0] = 10
    assert consumer.ack(message(9)) is False
    assert consumer._acked[P0] == []


# -- (4) resuming the flow -------------------------------------------------------------------------

def test_resuming_a_running_flow_keeps_the_records_already_queued() -> None:
    async def run() -> tuple[int, int]:
        flow = FlowControlEvent(initially_suspended=True)
        queue: FlowControlQueue[int] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
        queue.put_nowait(1)  # queued before a rebalance suspended the flow: emptied on resume
        faust_fixes.resume_flow(flow)
        after_rebalance = queue.qsize()
        queue.put_nowait(2)  # delivered while the flow runs (after the seek to committed offsets)
        faust_fixes.resume_flow(flow)  # faust resumes once more at the end of recovery
        return after_rebalance, queue.qsize()

    assert asyncio.run(run()) == (0, 1)


# -- (5) a bounded wait for in-flight messages when stopping ---------------------------------------

class WaitingConsumer(FakeConsumer):
    """Adds what Faust's wait_empty loop calls: commits and the wait for an ack."""

    def __init__(self) -> None:
        super().__init__()
        self.should_stop, self.commits, self.waits = False, 0, 0
        self.app.agents = SimpleNamespace(human_tracebacks=lambda: "")

    async def commit(self) -> None:
        self.commits += 1

    async def commit_and_end_transactions(self) -> None:
        self.commits += 1

    async def _wait_for_ack(self, timeout: float) -> None:
        self.waits += 1
        await asyncio.sleep(0.01)

    def _clean_unacked_messages(self) -> None:
        self._unacked_messages = {m for m in self._unacked_messages if not m.acked}

    wait_empty = faust_fixes.wait_empty


def test_stopping_gives_up_on_messages_never_acked_at_the_deadline_and_still_commits() -> None:
    consumer = WaitingConsumer()
    stuck = message(7)
    consumer._unacked_messages.add(stuck)  # held by something that will never ack it
    faust_fixes.set_wait_deadline(consumer.app, 0.3)
    started = time.monotonic()
    asyncio.run(asyncio.wait_for(consumer.wait_empty(), timeout=60))  # a hang guard, not a speed bound
    assert time.monotonic() - started >= 0.3  # it waited for the deadline, then gave up
    assert consumer.commits >= 2  # what was acked before is committed
    assert not stuck.acked and consumer._acked[P0] == []  # the stuck message is not committed


def test_without_a_stop_the_wait_ends_when_the_last_message_is_acked() -> None:
    consumer = WaitingConsumer()
    late = message(3)
    consumer._unacked_messages.add(late)

    async def run() -> None:
        waiting = asyncio.ensure_future(consumer.wait_empty())

        async def waited(times: int) -> None:  # what must happen: the loop waits for an ack, again and again
            while consumer.waits < times and not waiting.done():
                await asyncio.sleep(0)
        await asyncio.wait_for(waited(5), timeout=60)  # hang guards, not speed bounds (a loaded machine is slow)
        assert not waiting.done()  # no deadline: a rebalance waits for the message in hand
        consumer.ack(late)
        await asyncio.wait_for(waiting, timeout=60)

    asyncio.run(run())
    assert consumer._acked[P0] == [3]


# -- (6) events dropped from a suspended flow are released ----------------------------------------

def two_agent_message(offset: int) -> Any:
    """A real faust message of the events topic as the conductor hands it to two agents (refcount 2)."""
    from faust.types.tuples import ConsumerMessage
    msg = ConsumerMessage(EVENTS, 0, offset, time.time(), 0, [], b"k", b"v", None, generation_id=3)
    msg.incref(2)  # ingest + clickhouse-events
    return msg


def test_a_stop_while_the_second_agent_is_behind_does_not_wait_forever_for_the_first_agents_last_batch() -> None:
    """Issue 15's hang: ingest acked its last batch (refcount 2 -> 1) and keeps it in its ``batch`` loop
    variable; the same events still sat in the queue of clickhouse-events (busy writing) when the stop
    suspended the flow and emptied the queues. Without (6) nothing ever acks them again and wait_empty
    (no deadline) waits forever."""
    import gc
    import weakref

    from faust.events import Event

    consumer = WaitingConsumer()
    consumer._unacked_messages = weakref.WeakSet()  # faust's: a message nothing holds is forgotten
    flow = FlowControlEvent(initially_suspended=False)
    consumer.app.flow_control = flow
    app = SimpleNamespace(consumer=consumer)
    sink_queue: FlowControlQueue[Any] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    batch = []  # the ingest agent's loop variable: alive until a next batch replaces it
    for offset in range(12034, 12038):
        msg = two_agent_message(offset)
        event = Event(app, b"k", b"v", [], msg)
        sink_queue.put_nowait(event)  # clickhouse-events has not read it yet
        msg.tracked = True
        consumer._unacked_messages.add(msg)  # ingest read it
        batch.append(event)
    for event in batch:
        event.ack()  # ingest processed the batch: one reference left (the sink's)
    assert [e.message.refcount for e in batch] == [1, 1, 1, 1]

    flow.suspend()  # SIGTERM: App._stop_consumer suspends the flow, then empties the queues
    faust_fixes.clear_flow(flow)
    gc.collect()
    asyncio.run(asyncio.wait_for(consumer.wait_empty(), timeout=60))  # no deadline set: returns only if all released

    assert sink_queue.qsize() == 0
    assert all(e.message.acked and e.message.refcount == 0 for e in batch)
    assert consumer._acked[P0] == []  # released while suspended: never committed (read again by the next owner)


def test_resuming_the_flow_empties_queues_without_acking_what_they_held() -> None:
    from faust.events import Event

    consumer = FakeConsumer()
    flow = FlowControlEvent(initially_suspended=True)
    queue: FlowControlQueue[Any] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    msg = two_agent_message(5)
    queue.put_nowait(Event(SimpleNamespace(consumer=consumer), b"k", b"v", [], msg))
    flow._suspend.clear()  # faust's resume: the flow is running again when the queues are emptied
    faust_fixes.clear_flow(flow)
    assert queue.qsize() == 0 and msg.refcount == 2 and not msg.acked


# -- (7) the before-commit hook ------------------------------------------------------------------------

class Committer(SimpleNamespace):
    """Faust's consumer as ``_commit_tps`` sees it: ``acked`` is what ``_filter_committable_offsets``
    finds now, ``committed`` what ``_commit_offsets`` was given."""

    def __init__(self, app: Any, acked: dict[TP, int]) -> None:
        super().__init__(app=app, acked=acked, committed=[])

    def _filter_committable_offsets(self, tps: Any) -> dict[TP, int]:
        return {tp: self.acked[tp] for tp in tps if tp in self.acked}

    async def _handle_attached(self, offsets: Any) -> None:
        pass

    async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        self.committed.append((dict(offsets), start_new_transaction))
        return True


def test_a_commit_first_calls_the_apps_before_commit_callbacks_then_faust() -> None:
    order: list[Any] = []
    app = SimpleNamespace()
    faust_fixes.before_commit(app, lambda: order.append("flush a"))
    faust_fixes.before_commit(app, lambda: order.append("flush b"))

    async def commit(app: Any, tps: list[TP], start_new_transaction: bool) -> Committer:
        app.producer = Producer(await started_buffer())
        consumer = Committer(app, {TP("ev", 0): 7})
        consumer._filter_committable_offsets = lambda tps: order.append("offsets") or {tp: 7 for tp in tps}
        assert await faust_fixes.commit_tps(consumer, tps, start_new_transaction) is bool(tps)
        return consumer

    assert asyncio.run(commit(app, [TP("ev", 0)], False)).committed == [({TP("ev", 0): 7}, False)]
    assert order == ["flush a", "flush b", "offsets"]
    assert asyncio.run(commit(SimpleNamespace(), [], True)).committed == []  # no hook, nothing to commit


# -- (10) the producer buffer at a commit and at a stop ---------------------------------------------

class Channel:
    """Where Faust's ProducerBuffer hands a message (``publish_message``): each send takes ``seconds``
    and fails once aiokafka is closed, as aiokafka's ``add_message`` does."""

    def __init__(self, seconds: float = 0.01) -> None:
        self.seconds, self.sent, self.closed = seconds, [], False

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        await asyncio.sleep(self.seconds)
        if self.closed:
            raise RuntimeError("ProducerClosed")
        self.sent.append(fut.name)


def write(channel: Channel, name: str) -> Any:
    return SimpleNamespace(name=name, message=SimpleNamespace(channel=channel))


async def started_buffer() -> Any:
    from faust.transport.producer import ProducerBuffer
    buffer = ProducerBuffer()
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))
    await buffer.start()
    await asyncio.sleep(0)  # its task waits for the first message
    return buffer


class Producer(SimpleNamespace):
    """Faust's aiokafka Producer as the fix sees it: a buffer and the aiokafka producer behind it,
    whose flush records what the channel had sent by then."""

    def __init__(self, buffer: Any, channel: Channel | None = None) -> None:
        super().__init__(buffer=buffer, channel=channel, flushed=[], _transaction_producers={})
        self._producer = SimpleNamespace(flush=self._aiokafka_flush)

    async def _aiokafka_flush(self) -> None:
        self.flushed.append(list(self.channel.sent) if self.channel else [])


def test_a_commit_sends_every_changelog_write_first_and_commits_only_what_was_acked_before_them() -> None:
    channel = Channel(seconds=0.15)  # slower than Faust's own flush waits for one message (0.1 s)
    tp = TP("ev", 0)

    async def run() -> tuple[bool, Committer]:
        producer = Producer(await started_buffer(), channel)
        app = SimpleNamespace(producer=producer)
        consumer = Committer(app, {tp: 10})
        faust_fixes.before_commit(app, lambda: [producer.buffer.put(write(channel, f"w{i}")) for i in range(3)])
        committing = asyncio.ensure_future(faust_fixes.commit_tps(consumer, [tp], True))
        await asyncio.sleep(0.05)
        consumer.acked[tp] = 12  # acked while the writes go out: its session is not among them
        committed = await committing
        await producer.buffer.stop()
        return committed, consumer

    committed, consumer = asyncio.run(run())
    assert committed is True
    assert consumer.committed == [({tp: 10}, True)]
    assert consumer.app.producer.flushed == [["w0", "w1", "w2"]]  # all three sent, then aiokafka flushed


def test_a_commit_waits_for_the_writes_queued_before_it_not_for_those_agents_keep_adding() -> None:
    """Waiting for an empty buffer never ended while agents kept writing: no offset was committed."""
    channel = Channel(seconds=0.002)
    tp = TP("ev", 0)

    async def run() -> tuple[bool, list[str], Producer]:
        producer = Producer(await started_buffer(), channel)
        for i in range(20):
            producer.buffer.put(write(channel, f"w{i}"))

        async def agent() -> None:  # keeps the buffer busy: a new write every 1 ms
            for i in range(100_000):
                producer.buffer.put(write(channel, f"later{i}"))
                await asyncio.sleep(0.001)

        writing = asyncio.ensure_future(agent())
        consumer = Committer(SimpleNamespace(producer=producer), {tp: 5})
        committed = await asyncio.wait_for(faust_fixes.commit_tps(consumer, [tp], True), 3.0)
        writing.cancel()
        while producer.buffer.pending.qsize():  # the later writes: not this test's
            producer.buffer.pending.get_nowait()
        await producer.buffer.stop()
        return committed, consumer.committed, producer

    committed, commits, producer = asyncio.run(run())
    assert committed is True and commits == [({tp: 5}, True)]
    (sent_at_flush,) = producer.flushed
    assert sent_at_flush[:20] == [f"w{i}" for i in range(20)]  # every earlier write was sent first


def test_a_commit_commits_nothing_when_the_buffer_stopped_with_writes_unsent() -> None:
    async def run() -> Committer:
        buffer = await started_buffer()
        await buffer.stop()
        buffer.put(write(Channel(), "late"))
        consumer = Committer(SimpleNamespace(producer=Producer(buffer)), {TP("ev", 0): 3})
        assert await faust_fixes.commit_tps(consumer, [TP("ev", 0)], True) is False
        return consumer

    assert asyncio.run(run()).committed == []


def test_a_stopping_producer_sends_what_it_can_drops_the_rest_and_stops_the_buffer_before_aiokafka(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Faust closed aiokafka first: the buffer's next send raised ProducerClosed and crashed the app."""
    channel = Channel(seconds=0.05)
    closed_with: list[Any] = []

    async def faust_on_stop(self: Any) -> None:
        closed_with.append((self.buffer.state, list(channel.sent)))
        channel.closed = True

    monkeypatch.setitem(faust_fixes._ORIGINALS, "faust aiokafka Producer.on_stop", faust_on_stop)
    monkeypatch.setattr(faust_fixes, "PRODUCER_STOP_FLUSH_S", 0.18)

    async def run() -> Any:
        producer = Producer(await started_buffer(), channel)
        for i in range(40):
            producer.buffer.put(write(channel, f"w{i}"))
        await faust_fixes.stop_producer(producer)
        await asyncio.sleep(0.1)  # a send still in flight would fail now
        return producer.buffer

    buffer = asyncio.run(run())
    assert buffer._crash_reason is None
    ((state, sent),) = closed_with
    assert state != "running" and 2 <= len(sent) < 40  # stopped first; some sent within the limit, the rest dropped
    assert channel.sent == sent  # nothing was sent to a closed producer


# -- a rebalance during the stop (8) ----------------------------------------------------------------

def test_a_rebalance_that_reaches_a_stopping_app_leaves_the_consumer_to_the_threads_own_stop() -> None:
    """Faust closed the consumer thread's aiokafka client and coordinator from the main loop (the
    stop that hung at startup); the app must not touch the consumer, in either callback."""
    from streams.settings import Settings
    from streams.worker.app import create_app

    app = create_app(Settings(store="memory://", web_port=0))
    closed: list[str] = []
    app.consumer = SimpleNamespace(close=lambda: closed.append("close"))
    app._stopped.set()  # the app is stopping
    asyncio.run(app._on_partitions_assigned({TP("ev", 0)}))
    asyncio.run(app._on_partitions_revoked({TP("ev", 0)}))
    assert closed == []


# -- delivery without a task per message (9) -------------------------------------------------------

class Fetcher(mode.Service):
    """What ``deliver`` uses of faust's Consumer: a service's ``wait_first`` and the rebalance flag."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = asyncio.Event()


def counting_tasks(loop: asyncio.AbstractEventLoop) -> list[Any]:
    created: list[Any] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        created.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)
    return created


async def put(queue: asyncio.Queue[Any], item: Any, outcome: list[str]) -> None:
    """A delivery as the conductor's: put the message on a stream's queue, waiting while it is full."""
    try:
        await queue.put(item)
        outcome.append("delivered")
    except asyncio.CancelledError:
        outcome.append("cancelled")
        raise


def test_a_delivery_with_room_in_the_queue_ends_in_the_fetch_loops_task_where_faust_made_four() -> None:
    async def run() -> tuple[int, int, list[Any]]:
        fetcher, queue, outcome = Fetcher(), asyncio.Queue(), []
        created = counting_tasks(asyncio.get_running_loop())
        await faust_fixes.deliver(fetcher, put(queue, "m1", outcome))
        ours = len(created)
        await fetcher.wait_first(put(queue, "m2", outcome), fetcher.suspend_flow.wait())  # faust 0.15.3's
        return ours, len(created) - ours, [queue.get_nowait(), queue.get_nowait(), *outcome]

    assert asyncio.run(run()) == (0, 4, ["m1", "m2", "delivered", "delivered"])


async def waiting_delivery() -> tuple[Fetcher, asyncio.Queue[Any], list[str], asyncio.Future[Any]]:
    """A delivery of "m1" waiting for room in a full one-slot stream queue (holding "m0")."""
    fetcher, queue, outcome = Fetcher(), asyncio.Queue(maxsize=1), []
    queue.put_nowait("m0")
    delivering = asyncio.ensure_future(faust_fixes.deliver(fetcher, put(queue, "m1", outcome)))
    await asyncio.sleep(0.01)
    return fetcher, queue, outcome, delivering


def test_a_delivery_waiting_for_room_goes_on_once_the_stream_takes_a_message() -> None:
    async def run() -> list[Any]:
        _, queue, outcome, delivering = await waiting_delivery()
        waited = [*outcome, delivering.done()]
        taken = queue.get_nowait()
        await asyncio.wait_for(delivering, timeout=5)
        return [*waited, taken, queue.get_nowait(), *outcome]

    assert asyncio.run(run()) == [False, "m0", "m1", "delivered"]


def test_a_delivery_waiting_when_a_rebalance_suspends_the_flow_is_abandoned_as_faust_does() -> None:
    async def run() -> list[Any]:
        fetcher, queue, outcome, delivering = await waiting_delivery()
        fetcher.suspend_flow.set()
        await asyncio.wait_for(delivering, timeout=5)
        await asyncio.sleep(0)  # the cancelled delivery runs its handler
        return [queue.qsize(), *outcome]

    assert asyncio.run(run()) == [1, "cancelled"]


def test_cancelling_the_fetch_loop_cancels_the_delivery_it_waits_for() -> None:
    async def run() -> list[Any]:
        fetcher, queue, outcome = Fetcher(), asyncio.Queue(maxsize=1), []
        queue.put_nowait("m0")
        delivering = asyncio.ensure_future(faust_fixes.deliver(fetcher, put(queue, "m1", outcome)))
        await asyncio.sleep(0.01)
        delivering.cancel()
        with pytest.raises(asyncio.CancelledError):
            await delivering
        await asyncio.sleep(0)
        return [queue.qsize(), *outcome]

    assert asyncio.run(run()) == [1, "cancelled"]


@pytest.mark.parametrize("waits_first", [False, True])
def test_an_error_in_a_delivery_reaches_the_fetch_loop_before_or_after_its_first_wait(waits_first: bool) -> None:
    async def failing() -> None:
        if waits_first:
            await asyncio.sleep(0.001)
        raise ValueError("no room for it")

    async def run() -> None:
        await faust_fixes.deliver(Fetcher(), failing())

    with pytest.raises(ValueError, match="no room for it"):
        asyncio.run(run())


def test_the_rest_of_a_suspended_coroutine_runs_to_its_result_under_another_task() -> None:
    async def two_waits(event: asyncio.Event) -> int:
        await event.wait()
        await asyncio.sleep(0)
        return 42

    async def run() -> int:
        event = asyncio.Event()
        coroutine = two_waits(event)
        waiting_for = coroutine.send(None)  # runs up to the event's wait
        rest = asyncio.ensure_future(faust_fixes._Rest(coroutine, waiting_for))
        await asyncio.sleep(0.01)
        assert not rest.done()
        event.set()
        return await asyncio.wait_for(rest, timeout=5)

    assert asyncio.run(run()) == 42


# -- the patches fail loudly -------------------------------------------------------------------------

def test_create_app_installs_every_patch() -> None:
    from streams.settings import Settings
    from streams.worker.app import create_app

    create_app(Settings(store="memory://", web_port=0))
    assert faust_fixes.installed() == dict.fromkeys(faust_fixes.installed(), True)
    assert len(faust_fixes.installed()) == 10


def test_the_installed_versions_and_originals_are_the_ones_the_fixes_were_written_for() -> None:
    assert faust_fixes.problems() == []


def test_another_faust_version_refuses_to_start_with_what_changed_and_where_to_look(monkeypatch) -> None:
    monkeypatch.setitem(faust_fixes.VERSIONS, "faust-streaming", "0.15.2")
    with pytest.raises(faust_fixes.IncompatibleFaust) as raised:
        faust_fixes.check()
    text = str(raised.value)
    assert "faust-streaming is 0.15.3, the fixes were written for 0.15.2" in text
    assert "RELIABILITY.md" in text and "test_fault_" in text


def test_a_changed_original_method_refuses_to_start(monkeypatch) -> None:
    def ack(self: Any, message: Any) -> bool:  # "upstream changed Consumer.ack"
        return True

    monkeypatch.setitem(faust_fixes._ORIGINALS, "faust Consumer.ack", ack)
    assert any(p.startswith("faust Consumer.ack changed (source fingerprint") for p in faust_fixes.problems())
    with pytest.raises(faust_fixes.IncompatibleFaust):
        faust_fixes.check()
