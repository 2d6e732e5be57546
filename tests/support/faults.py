"""Workloads, the exactly-once oracle and consumer-group offsets for the integration and fault tests.

- ``synthetic(n)``: varied short conversations (corrections, tool loops, errors, gratitude);
- ``workload(n)``: varied trajectories and what a clean run gives for them (``expected``);
- ``produce_in_background``: a steady-rate producer thread (the stream keeps flowing during a fault);
- ``inspect_chdb(path)``: what a STOPPED worker left in its chDB path, read in a fresh subprocess
  (chDB allows one data path per process, and the test process may already own another one);
- ``assert_exactly_once``: nothing lost, nothing doubled, every row final and equal to the clean run;
- ``group_lag``: committed offsets of a consumer group vs the topic's high watermarks;
- ``wait_joined``: the worker owns events partitions (instead of sleeping until it probably does).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError

from detectors.adapters import Trajectory
from detectors.model import TrajectoryReport
from detectors.session import analyze
from streams.cli.commands.produce import produce, with_end
from streams.codec import encode_report
from streams.settings import Settings
from streams.worker.events_sink import GROUP_SUFFIX
from tests.builders import A, C, R, U, conv
from tests.support.kafka import REPO

VERSION = "fault-1"
_report = msgspec.json.Decoder(TrajectoryReport)


def synthetic(count: int, prefix: str = "syn") -> list[Trajectory]:
    """Varied conversations: corrections, tool loops, errors, gratitude."""
    out = []
    for i in range(count):
        tid = f"{prefix}-{i}"
        specs = [U("Book a flight to Paris"), A("Sure, which date?"), C("search", {"to": "PAR", "n": i % 3}, call_id="c1"),
                 R("error: timeout" if i % 4 == 0 else "3 flights", call_id="c1"),
                 U("No, that's wrong, I said Paris not Rome" if i % 2 else "Thanks, that works!"), A("Done.")]
        out.append(Trajectory(id=tid, events=conv(tid, *specs[: 3 + i % 4], start_ts=1_700_000_000.0 + i)))
    return out


def workload(count: int, prefix: str) -> list[Trajectory]:
    """Trajectories of 5-10 events: corrections, failing and repeated tool calls, gratitude."""
    out = []
    for i in range(count):
        tid = f"{prefix}-{i}"
        specs = [U("Please change my flight to Paris"), A("Which reservation?"),
                 C("get_reservation", {"id": i % 7}, call_id="c1"),
                 R("error: reservation not found" if i % 3 == 0 else '{"id": 1, "status": "ok"}', call_id="c1"),
                 U("No, that's wrong, I said Paris not Rome" if i % 2 else "Thank you so much!"),
                 C("get_reservation", {"id": i % 7}, call_id="c2"), R("error: timeout", call_id="c2"),
                 A("Done, your flight is changed."), U("great, thanks"), A("Anything else?")]
        out.append(Trajectory(id=tid, events=conv(tid, *specs[: 5 + i % 6], start_ts=1_700_000_000.0 + i)))
    return out


def expected(trajectories: list[Trajectory]) -> dict[str, dict[str, Any]]:
    """Trajectory id -> the final record of a clean batch run (as JSON, like the topic and the table)."""
    return {t.id: json.loads(encode_report(analyze(t.id, with_end(t), pipeline_version=VERSION)))
            for t in trajectories}


def produce_in_background(kafka: str, topic: str, data: list[Trajectory], rate: float) -> threading.Thread:
    """One event per message at ``rate`` events/s, on a thread (join it with a timeout)."""
    settings = Settings.from_env({"kafka": kafka, "topic_events": topic})
    thread = threading.Thread(target=lambda: asyncio.run(produce(settings, data, batch=1, rate=rate)), daemon=True)
    thread.start()
    return thread


_INSPECT = """
import json, sys
from sinks.client import connect
from sinks.config import database_name
db, client = database_name(None), connect(sys.argv[1])
q = lambda sql: [list(r) for r in client.query(sql).result_rows]
print(json.dumps({
  "trajectories": q(f"SELECT trajectory_id, final, record FROM {db}.trajectories FINAL"),
  "versions": q(f"SELECT trajectory_id, pipeline_version FROM {db}.trajectory_versions FINAL"),
  "signals": q(f"SELECT trajectory_id, signal_type, idx FROM {db}.signals FINAL"),
  "events": q(f"SELECT trajectory_id, seq FROM {db}.events FINAL"),
}))
"""


def inspect_chdb(path: Path) -> dict[str, list[list[Any]]]:
    """Rows (FINAL) of every table in the chDB path of a worker that has stopped."""
    done = subprocess.run([sys.executable, "-c", _INSPECT, f"chdb://{path}"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def assert_exactly_once(tables: dict[str, list[list[Any]]], data: list[Trajectory], *, events: bool = True) -> None:
    """Every trajectory once, final, identical to the clean run; signals and (unless ``events`` is
    False: a worker without the raw-events sink) events neither lost nor doubled."""
    # the clean run as the pipeline carries it (the topic record format; the sink decodes that)
    want = {t.id: _report.decode(encode_report(analyze(t.id, with_end(t), pipeline_version=VERSION)))
            for t in data}
    ids = Counter(row[0] for row in tables["trajectories"])
    assert not [tid for tid, n in ids.items() if n > 1], "a trajectory has several rows after FINAL"
    assert sorted(ids) == sorted(want), "trajectories lost or unexpected"
    for tid, final, record in tables["trajectories"]:
        assert final == 1, tid
        assert _report.decode(record) == want[tid], tid  # triage, quality, counts, signals: all identical
    assert sorted(Counter(row[0] for row in tables["versions"]).values()) == [1] * len(want)
    got_signals = Counter((tid, kind, idx) for tid, kind, idx in tables["signals"])
    want_signals = Counter((tid, s.type, s.index) for tid, r in want.items() for s in r.signals)
    assert got_signals == want_signals  # a Counter: a doubled (trajectory, type, idx) would show
    if not events:
        return
    got_events = Counter((tid, seq) for tid, seq in tables["events"])
    assert got_events == Counter((t.id, e.seq) for t in data for e in with_end(t))


def group_lag(kafka: str, group: str, topic: str) -> tuple[int, int]:
    """(sum of committed offsets, sum of high watermarks) of ``group`` on ``topic``."""
    return asyncio.run(_group_lag(kafka.split("://")[-1], group, topic))


async def _group_lag(bootstrap: str, group: str, topic: str) -> tuple[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        [described] = await admin.describe_topics([topic])
        partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
        await admin.close()
    done = sum(max(0, m.offset) for tp, m in committed.items() if tp.topic == topic)
    return done, sum(ends.values())


def describe_group(kafka: str, group: str) -> Any:
    """The broker's DescribeGroups entry for ``group``: (error, id, state, protocol type, protocol, members)."""
    return asyncio.run(_describe_group(kafka.split("://")[-1], group))


async def _describe_group(bootstrap: str, group: str) -> Any:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    return response.groups[0]


def wait_group_state(kafka: str, group: str, states: tuple[str, ...], timeout: float, poll: float = 0.02) -> str:
    """Poll ``group``'s state every ``poll`` seconds with ONE admin client until it is one of ``states``
    (returned); fails after ``timeout``. A rebalance can be over in well under a second: a new client
    per poll (``describe_group``) takes about that long and misses it."""
    return asyncio.run(_wait_group_state(kafka.split("://")[-1], group, states, timeout, poll))


async def _wait_group_state(bootstrap: str, group: str, states: tuple[str, ...], timeout: float, poll: float) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    deadline, seen = time.monotonic() + timeout, set()
    try:
        while True:
            [response] = await admin.describe_consumer_groups([group])
            state = str(response.groups[0][2])
            if state in states:
                return state
            seen.add(state)
            assert time.monotonic() < deadline, f"group {group} not in {states} within {timeout:.0f}s (seen: {seen})"
            await asyncio.sleep(poll)
    finally:
        await admin.close()


def group_assignments(kafka: str, group: str, topic: str) -> list[set[int]]:
    """The partitions of ``topic`` assigned to each member of ``group`` (one set per member)."""
    out = []
    for member in describe_group(kafka, group)[5]:
        raw = member[4]
        assignment = ConsumerProtocolMemberAssignment.decode(raw) if raw else None
        out.append({p for t, ps in (assignment.assignment if assignment else ()) if t == topic for p in ps})
    return out


def committed_to_end(kafka: str, names: dict[str, str], *topics: str) -> bool:
    """The group (``names["app_id"]``) has committed every message of each topic (``names`` keys)."""
    return all(done == end > 0 for done, end in (group_lag(kafka, names["app_id"], names[t]) for t in topics))


def raw_events_group(names: dict[str, str]) -> dict[str, str]:
    """``names`` with the group of the raw-events sink (streams/worker/events_sink.py) as ``app_id``."""
    return {**names, "app_id": names["app_id"] + GROUP_SUFFIX}


def sink_committed(kafka: str, names: dict[str, str]) -> bool:
    """Everything a worker with the ClickHouse sink reads is committed: the events and the records
    by the worker's group, the events by the raw-events group too."""
    return (committed_to_end(kafka, names, "topic_events", "topic_trajectories")
            and committed_to_end(kafka, raw_events_group(names), "topic_events"))


def wait_joined(kafka: str, names: dict[str, str], timeout: float = 60.0) -> None:
    """Wait until the worker group (``names["app_id"]``) owns partitions of the events topic."""
    wait_for(lambda: members_own_events(kafka, names), timeout, "the worker to join its group and own events partitions")


def members_own_events(kafka: str, names: dict[str, str], members: int | None = None) -> bool:
    """Some member owns events partitions -- or, with ``members``, exactly that many members, each owning some."""
    try:
        owned = group_assignments(kafka, names["app_id"], names["topic_events"])
    except KafkaError:  # e.g. no group coordinator yet on a fresh broker, or one moving mid-rebalance
        return False
    return any(owned) if members is None else len(owned) == members and all(owned)


def wait_for(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(poll)


def stop(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    """SIGTERM and wait: a clean shutdown releases the chDB path for ``inspect_chdb``."""
    proc.terminate()
    return proc.wait(timeout=timeout)
