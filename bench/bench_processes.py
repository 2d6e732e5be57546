"""Scale-out benchmark (not a test; prints figures): 1 vs N worker processes, and the cost of a rebalance.

    nice .venv/bin/python bench/bench_processes.py --kafka kafka://127.0.0.1:9092 [--events 60000]
        [--partitions 8] [--processes 2] [--rounds 2] [--rate 800] [--seconds 100] [--skip-throughput]
        [--skip-rebalance]

1. Throughput, same run: the same ``--events`` (20-event trajectories, one event per message) are read
   by ``signals worker --processes 1`` and then ``--processes N`` (the supervisor,
   streams/worker/supervisor.py), ``--rounds`` times alternating, each on a fresh topic of
   ``--partitions`` partitions and a fresh group, the ClickHouse sink off (what N processes multiply
   is the ingest; with chDB the sink is one process in any case). The events are produced once every
   process owns partitions (``run_worker`` says why). Events/s over the work only: from the first
   trajectory record to the last final one (startup and the group join excluded); then the ratio
   N / 1 of each round.
2. Rebalance cost, with the chDB sink: a sink process (``--ingest=false``, group ``<app_id>-sink``,
   as the supervisor runs it) and ingest worker A; a steady producer (``--rate`` events/s, varied
   trajectories of ``tests.support.faults.workload``); then worker B joins, leaves on SIGTERM, a worker
   C joins, and C is SIGKILLed (its session timeout ``--session-timeout``). For each: seconds from the
   action to the group rebalancing, to every events partition assigned again, and to every events
   partition COMMITTING again (its committed offset moved after the assignment; commits every
   ``commit_interval_s`` = 1 s, so this is up to 1 s late). At the end, once everything is committed:
   ``faults.assert_exactly_once`` on the chDB tables (every trajectory once, final, identical to a
   clean batch run; signals and events neither lost nor doubled) and the count of final records
   that appeared more than once on the trajectories topic (redeliveries, identical, which the sink's
   idempotent writes absorb).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench.*, tests.*

from bench.bench_streaming import read_until, trajectories
from streams.cli.commands.produce import produce
from streams.cli.commands.worker import command_line, fresh_names
from streams.kafka import client_options, ensure_topics
from streams.settings import Settings
from tests.support.faults import (
    VERSION,
    assert_exactly_once,
    committed_to_end,
    describe_group,
    expected,
    inspect_chdb,
    members_own_events,
    produce_in_background,
    workload,
)
from tests.support.kafka import final_records, read_topic

REPO = Path(__file__).resolve().parents[1]
POLL_S = 0.2


def spawn(fields: dict[str, object], log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(command_line(fields, *extra), cwd=REPO, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    proc.terminate()
    return proc.wait(timeout=timeout)


# --- 1. throughput ------------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of ``root``'s tree."""
    parents, cpu = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid], cpu[pid] = int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(cpu.get(pid, 0.0) for pid in tree)


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot (/proc/stat)."""
    user, nice, system, idle, iowait, *rest = (int(v) for v in Path("/proc/stat").read_text().split()[1:9])
    busy = user + nice + system + sum(rest)
    return busy / TICK, (busy + idle + iowait) / TICK

async def run_worker(kafka: str, data: list[Any], processes: int, partitions: int,
                     tmp: Path) -> tuple[float, int, float]:
    """(seconds from the first trajectory record to the last final one, events, the workers' CPU seconds
    meanwhile) with ``processes`` worker
    processes. The group is Stable with every process owning partitions BEFORE the events are produced:
    the broker here has ``group.initial.rebalance.delay.ms=0``, so on a pre-filled topic the first
    process to join would start alone and the second one's join would be a rebalance inside the figure."""
    names = fresh_names(f"bproc{processes}")
    fields = {"kafka": kafka, "store": "memory://", "data_dir": tmp / names["app_id"], "web_port": 0,
              "metrics_port": 0, "sink": False, "partitions": partitions, "processes": processes, **names}
    settings = Settings.from_env({"kafka": kafka, "partitions": partitions, **names})
    await ensure_topics(settings, client_options(settings))
    proc = spawn(fields, tmp / f"{names['app_id']}.log")
    try:
        def joined() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited {proc.returncode}; see {tmp}")
            return members_own_events(kafka, names, members=processes)
        await asyncio.to_thread(poll_until, joined, 120, f"{processes} process(es) to own the events partitions")
        cpu_before, (busy_before, total_before) = tree_cpu(proc.pid), machine_busy()
        summary = await produce(settings, data, batch=1)
        seen: set[bytes] = set()

        def done(messages: list[Any]) -> bool:
            seen.update(m.key for m in messages[-20000:] if b'"final":true' in m.value)
            return len(seen) >= len(data)
        records = await read_until(kafka, names["topic_trajectories"], done, timeout=900)
        cpu, (busy, total) = tree_cpu(proc.pid) - cpu_before, machine_busy()
        wall = (total - total_before) / os.cpu_count()  # type: ignore[operator]
        print(f"[throughput]   --processes {processes}: the workers used {cpu / wall:.2f} cores, the whole machine "
              f"{(busy - busy_before) / wall:.2f} of {os.cpu_count()} (others: {((busy - busy_before) - cpu) / wall:.2f})",
              flush=True)
    finally:
        code = stop(proc)
    if len(seen) < len(data):
        raise RuntimeError(f"{processes} process(es) wrote {len(seen)}/{len(data)} final records; see {tmp}")
    if code != 0:  # the figure stands (every final record was read); the stop is reported, not hidden
        print(f"[throughput] WARNING: --processes {processes} exited {code} on SIGTERM; see {tmp}", flush=True)
    first = min(m.timestamp for m in records) / 1000
    last = max(m.timestamp for m in records if b'"final":true' in m.value) / 1000
    return last - first, summary.events, cpu


async def throughput(kafka: str, events: int, partitions: int, processes: int, rounds: int) -> None:
    data = trajectories(events, "proc")
    print(f"[throughput] {len(data)} trajectories of 20 events, one event per message, {partitions} partitions, "
          f"a fresh topic and group per run", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bproc-"))  # the workers' logs stay there
    print(f"[throughput] logs in {tmp}", flush=True)
    for round_ in range(1, rounds + 1):
        rates, per_cpu = {}, {}
        for n in (1, processes):
            seconds, produced, cpu = await run_worker(kafka, data, n, partitions, tmp)
            rates[n], per_cpu[n] = produced / seconds, produced / cpu
            print(f"[throughput] round {round_}: --processes {n}: {rates[n]:,.0f} events/s "
                  f"({produced} events in {seconds:.1f}s), {per_cpu[n]:,.0f} events per worker CPU-second",
                  flush=True)
        print(f"[throughput] round {round_}: ratio {processes} / 1 = {rates[processes] / rates[1]:.2f}x; per CPU-second "
              f"{per_cpu[processes] / per_cpu[1]:.2f}x ({processes} x that = the ratio with {processes} free cores)",
              flush=True)


# --- 2. rebalance cost --------------------------------------------------------------------------

def committed(kafka: str, group: str, topic: str) -> dict[int, int]:
    """Partition -> committed offset of ``group`` on ``topic``."""
    return asyncio.run(_committed(kafka.split("://")[-1], group, topic))


async def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    from aiokafka.admin import AIOKafkaAdminClient
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: m.offset for tp, m in offsets.items() if tp.topic == topic}


def poll_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Monotonic time at which ``condition`` first held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(POLL_S)
    return time.monotonic()


def rebalancing(kafka: str, group: str) -> bool:
    try:
        return str(describe_group(kafka, group)[2]) != "Stable"
    except Exception:  # a coordinator moving mid-rebalance
        return True


def measure(kafka: str, names: dict[str, str], action: str, started: float, members: int,
            partitions: int) -> None:
    """Print seconds from ``started`` (the action) to the rebalance, the assignment, and every partition committing."""
    group, topic = names["app_id"], names["topic_events"]
    began = poll_until(lambda: rebalancing(kafka, group) or members_own_events(kafka, names, members=members), 120,
                       f"{action}: the group to rebalance")  # or done already, between two polls
    assigned = poll_until(lambda: members_own_events(kafka, names, members=members), 120,
                          f"{action}: {members} member(s) to own the events partitions")
    base = committed(kafka, group, topic)
    moved: set[int] = set()

    def all_moved() -> bool:
        now = committed(kafka, group, topic)
        moved.update(p for p, offset in now.items() if offset > base.get(p, -1))
        return len(moved) >= partitions
    consuming = poll_until(all_moved, 120, f"{action}: every partition to commit again")
    print(f"[rebalance] {action:<22} rebalance began {began - started:5.1f}s, assigned {assigned - started:5.1f}s, "
          f"all {partitions} partitions committing {consuming - started:5.1f}s "
          f"(pause: {consuming - began:4.1f}s)", flush=True)


def rebalance(kafka: str, partitions: int, rate: float, seconds: float, session_timeout: float) -> None:
    names = fresh_names("breb")
    settings = Settings.from_env({"kafka": kafka, "partitions": partitions, **names})
    asyncio.run(ensure_topics(settings, client_options(settings)))
    data = workload(int(rate * seconds / 8.5), "reb")  # 5-10 events + the end: 8.5 on average
    with tempfile.TemporaryDirectory(prefix="breb-") as tmp_name:
        tmp = Path(tmp_name)
        base = {"kafka": kafka, "store": "memory://", "web_port": 0, "metrics_port": 0, "partitions": partitions,
                "pipeline_version": VERSION, "clickhouse": f"chdb://{tmp / 'ch'}", "sink_batch_within_s": 0.2,
                **names}
        ingest = {**base, "sink": False, "alerts": False, "session_timeout_s": session_timeout}
        sink = spawn({**base, "ingest": False, "app_id": names["app_id"] + "-sink", "data_dir": tmp / "sink"},
                     tmp / "sink.log")
        workers = {"A": spawn({**ingest, "data_dir": tmp / "a"}, tmp / "a.log")}
        try:
            poll_until(lambda: members_own_events(kafka, names, members=1), 120, "worker A to own the partitions")
            producer = produce_in_background(kafka, names["topic_events"], data, rate)
            print(f"[rebalance] {len(data)} trajectories at {rate:.0f} events/s on {partitions} partitions; "
                  f"ingest session timeout {session_timeout:.0f}s", flush=True)
            for action, member_count in (("B joins", 2), ("B leaves (SIGTERM)", 1), ("C joins", 2),
                                         ("C dies (SIGKILL)", 1)):
                time.sleep(8)  # steady state before each action
                if not producer.is_alive():
                    print(f"[rebalance] the stream ended before '{action}': raise --seconds", flush=True)
                    break
                started = time.monotonic()
                act(action, workers, ingest, tmp)
                measure(kafka, names, action, started, member_count, partitions)
            producer.join(timeout=seconds * 3)
            poll_until(lambda: committed_to_end(kafka, names, "topic_events")
                       and committed_to_end(kafka, {**names, "app_id": names["app_id"] + "-sink"},
                                            "topic_events", "topic_trajectories"),
                       300, "the ingest and sink groups to commit everything")
        finally:
            for proc in [*workers.values(), sink]:
                if proc.poll() is None:
                    stop(proc)
        report_once(kafka, names, data, tmp)


def act(action: str, workers: dict[str, subprocess.Popen[bytes]], ingest: dict[str, object], tmp: Path) -> None:
    name = action.split()[0]
    if "joins" in action:
        workers[name] = spawn({**ingest, "data_dir": tmp / name.lower()}, tmp / f"{name.lower()}.log")
    elif "SIGTERM" in action:
        workers[name].terminate()
    else:
        workers[name].kill()


def report_once(kafka: str, names: dict[str, str], data: list[Any], tmp: Path) -> None:
    messages = read_topic(kafka, names["topic_trajectories"],
                          until=lambda ms: len(final_records(ms)) >= len(data), timeout=120)
    finals, want = final_records(messages), expected(data)
    doubled = sum(len(records) - 1 for records in finals.values())
    assert finals.keys() == want.keys(), "trajectories without a final record on the topic"
    assert all(r == want[tid] for tid, records in finals.items() for r in records), "a redelivered record differs"
    assert_exactly_once(inspect_chdb(tmp / "ch"), data)
    print(f"[rebalance] topic: {len(finals)}/{len(data)} trajectories with a final record, {doubled} final records "
          f"redelivered (identical); ClickHouse: every trajectory exactly once, final and equal to the clean run; "
          f"signals and events neither lost nor doubled", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kafka", default=None, help="default: SIGNALS_KAFKA or kafka://127.0.0.1:9092")
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=float, default=800.0, help="rebalance: events/s of the steady producer")
    parser.add_argument("--seconds", type=float, default=100.0, help="rebalance: how long the stream lasts")
    parser.add_argument("--session-timeout", type=float, default=10.0, help="rebalance: of the ingest workers")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-rebalance", action="store_true")
    args = parser.parse_args()
    kafka = args.kafka or Settings.from_env().kafka
    if not args.skip_throughput:
        asyncio.run(throughput(kafka, args.events, args.partitions, args.processes, args.rounds))
    if not args.skip_rebalance:
        rebalance(kafka, args.partitions, args.rate, args.seconds, args.session_timeout)


if __name__ == "__main__":
    main()
