"""Benchmark the ClickHouse sink and sampling on synthetic reports (embedded chDB by default).

    .venv/bin/python bench/bench_clickhouse.py --n 1000000 [--dsn chdb:///tmp/bench-ch] [--batch 20000]
    .venv/bin/python bench/bench_clickhouse.py --n 20000 --events 10 [--redact]   # with event rows
    .venv/bin/python bench/bench_clickhouse.py --n 10000000                       # generated in SQL
    .venv/bin/python bench/bench_clickhouse.py --n 10000000 --dsn chdb:///tmp/ch10m --reuse --baseline <checkout>

Up to ``--writer-max`` trajectories (1M) go through sinks.writer.Writer, interleaved segment by
segment with a plain-chDB baseline in the same run: the same rows, built beforehand, inserted by
``client.insert`` into a second database in batches of the same size (no tokens, no row building).
It prints rows/s of both and their ratio (the machine is shared: read the ratio next to the
absolutes). Above ``--writer-max`` the trajectories are generated inside ClickHouse
(``INSERT ... SELECT ... FROM numbers(N)``, plus one older non-final version of every tenth
trajectory, so FINAL has rows to collapse), which keeps a 10M bench short.

Then each sampling strategy runs ``--repeat`` times: p50 and p99 in ms, and the peak memory of the
process during its runs (VmHWM - VmRSS, reset before each strategy: the embedded engine runs in
this process). ``--baseline PATH`` (another checkout, e.g. ``git archive main | tar -x -C DIR``) also
runs that checkout's sampling code on the same data, interleaved run by run with this one (the order
alternating), and prints both and their ratio. ``--reuse`` with ``--dsn`` keeps a data set an earlier
run generated there. ``--events K`` also writes K synthetic events per trajectory (messages, tool calls
and results with some emails, phone numbers and keys) to the events table; ``--redact`` turns on
content redaction (``SIGNALS_REDACT_CONTENT=1``: every event string and signal snippet redacted).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import itertools
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from detectors.model import (
    SIGNAL_TYPES,
    AssistantMessage,
    Event,
    Signal,
    ToolCall,
    ToolResult,
    TrajectoryReport,
    UserMessage,
)
from sinks import rows
from sinks.client import connect
from sinks.migrate import migrate
from sinks.sampling import sample
from sinks.selection import Selection
from sinks.version import pipeline_rank
from sinks.writer import TABLES, Writer

QUALITIES = ("excellent", "good", "neutral", "poor", "severe")
START = 1_735_689_600.0  # 2025-01-01


def synthetic(n: int, seed: int = 1) -> Iterator[TrajectoryReport]:
    rng = random.Random(seed)
    for i in range(n):
        types = rng.sample(SIGNAL_TYPES, rng.choice((0, 0, 1, 1, 2, 3, 4)))
        signals = [Signal(type=t, index=rng.randrange(30), snippet="...") for t in types]
        first = START + rng.random() * 86_400 * 90
        yield TrajectoryReport(
            id=f"traj-{i:08d}", quality=rng.choice(QUALITIES), quality_score=rng.random() * 100,
            triage_score=round(rng.random(), 4), signals=signals, counts={t: 1 for t in types},
            pipeline_version="1.0.0", final=True, agent_id=f"agent-{i % 20}", tenant_id=f"tenant-{i % 3}",
            events=rng.randrange(2, 60), tool_calls=rng.randrange(0, 20), tool_errors=rng.randrange(0, 5),
            first_ts=first, last_ts=first + rng.random() * 600,
        )


TEXTS = ("I need to change my flight to Paris next Tuesday, reservation ABC123.",
         "Sure, my email is jane.doe@example.com and my phone is +1 415 555 0199.",
         "The card on file ends in 7815, please use it for the difference of $120.",
         "No, that's wrong. I said Paris, not Rome. Use token sk-abcdefghijklmnopqrstuvwx for the API.")


def synthetic_events(report: TrajectoryReport, k: int) -> list[Event]:
    """``k`` events of the trajectory cycling user, assistant, tool call, tool result."""
    out: list[Event] = []
    for seq in range(k):
        base = {"trajectory_id": report.id, "seq": seq, "ts": (report.first_ts or START) + seq,
                "agent_id": report.agent_id, "tenant_id": report.tenant_id}
        text = TEXTS[seq % len(TEXTS)]
        out.append((UserMessage(text=text, **base), AssistantMessage(text=text[::-1], **base),
                    ToolCall(tool="update_reservation", call_id=f"c{seq}", arguments={"note": text}, **base),
                    ToolResult(call_id=f"c{seq - 1}", result=f'{{"status": "ok", "note": "{text}"}}', **base))[seq % 4])
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def memory_kib() -> dict[str, int]:
    """VmRSS and VmHWM (peak) of this process, in KiB."""
    with open("/proc/self/status") as status:
        return {key: int(value.split()[0]) for key, value in (line.split(":", 1) for line in status)
                if key in ("VmRSS", "VmHWM")}


def reset_peak() -> int:
    """Resets the process's peak RSS (Linux clear_refs 5); returns the RSS now, in KiB."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    return memory_kib()["VmRSS"]


def timed(label: str, action: Callable[[], object], repeat: int) -> None:
    """p50 and p99 of ``repeat`` runs, and the peak memory growth during them."""
    before = reset_peak()
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        times.append((time.perf_counter() - start) * 1000)
    peak_mib = (memory_kib()["VmHWM"] - before) / 1024
    size = len(result) if isinstance(result, list) else result
    print(f"{label:<34} p50 {percentile(times, 0.5):8.1f} ms  p99 {percentile(times, 0.99):8.1f} ms  "
          f"peak +{peak_mib:6.0f} MiB  ({size})")


def runs(label: str, actions: dict[str, Callable[[], object]], repeat: int) -> None:
    """``timed`` for variants of one action run in turn (round k starts with variant k mod m), so a
    busy machine slows them alike: p50, p99, the process's CPU time (p50: the engine runs in this
    process; steadier than wall time on shared cores) and peak memory growth of each, and the ratios."""
    times: dict[str, list[float]] = {name: [] for name in actions}
    cpu: dict[str, list[float]] = {name: [] for name in actions}
    peaks = dict.fromkeys(actions, 0.0)
    sizes: dict[str, object] = {}
    names = list(actions)
    for round_ in range(repeat):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            before = reset_peak()
            start, cpu_start = time.perf_counter(), time.process_time()
            result = actions[name]()
            times[name].append((time.perf_counter() - start) * 1000)
            cpu[name].append((time.process_time() - cpu_start) * 1000)
            peaks[name] = max(peaks[name], (memory_kib()["VmHWM"] - before) / 1024)
            sizes[name] = len(result) if isinstance(result, list) else result
    for name in names:
        p50, p99 = percentile(times[name], 0.5), percentile(times[name], 0.99)
        ratio = "" if name == names[0] else (f"  {percentile(times[names[0]], 0.5) / p50:5.2f}x / "
                                             f"{percentile(times[names[0]], 0.99) / p99:5.2f}x of {names[0]}")
        print(f"{label + ' [' + name + ']':<44} p50 {p50:8.1f} ms  p99 {p99:8.1f} ms  "
              f"CPU p50 {percentile(cpu[name], 0.5):8.1f} ms  peak +{peaks[name]:6.0f} MiB  ({sizes[name]}){ratio}",
              flush=True)


def load_sampling(checkout: Path) -> tuple[ModuleType, ModuleType]:
    """That checkout's sinks.sampling and sinks.selection, as separate modules (its sampling imports
    its own selection; everything else is this checkout's)."""
    def load(name: str, path: Path) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    selection = load("baseline_selection", checkout / "sinks" / "selection.py")
    saved = sys.modules["sinks.selection"]
    sys.modules["sinks.selection"] = selection
    try:
        return load("baseline_sampling", checkout / "sinks" / "sampling.py"), selection
    finally:
        sys.modules["sinks.selection"] = saved


class Rates:
    """Rows and seconds of the writer and of the plain baseline, summed over the segments."""

    def __init__(self) -> None:
        self.writer_rows = self.writer_s = self.plain_rows = self.plain_s = 0.0

    def report(self, n: int, events_each: int) -> None:
        writer, plain = self.writer_rows / self.writer_s, self.plain_rows / self.plain_s
        print(f"writer: {n} trajectories ({self.writer_rows:,.0f} rows, {events_each} events each) in "
              f"{self.writer_s:.1f} s: {writer:,.0f} rows/s, {n / self.writer_s:,.0f} trajectories/s")
        print(f"plain chDB insert of the same rows: {plain:,.0f} rows/s; writer / plain = {writer / plain:.2f}")


def write_segment(sink: Writer, reports: list[TrajectoryReport], events_each: int) -> float:
    """Seconds ``sink`` takes to build, write and flush the rows of ``reports`` (and their events)."""
    elapsed = 0.0
    for first in range(0, len(reports), 10_000):
        chunk = reports[first:first + 10_000]
        events = [e for r in chunk for e in synthetic_events(r, events_each)]
        start = time.perf_counter()
        sink.write_reports(chunk, events)
        elapsed += time.perf_counter() - start
    start = time.perf_counter()
    sink.flush()
    return elapsed + time.perf_counter() - start


def plain_segment(client: Any, database: str, table_rows: dict[str, list[rows.Row]], batch: int) -> float:
    """Seconds ``client.insert`` takes for the same rows, already built, in batches of ``batch``."""
    elapsed = 0.0
    for table, built in table_rows.items():
        for first in range(0, len(built), batch):
            start = time.perf_counter()
            client.insert(table, built[first:first + batch], column_names=TABLES[table], database=database)
            elapsed += time.perf_counter() - start
    return elapsed


def built_rows(sink: Writer, reports: list[TrajectoryReport], events_each: int) -> dict[str, list[rows.Row]]:
    """The rows the writer builds for ``reports``, per table, without writing them."""
    builder = Writer(lambda: None, "", max_rows=10**9, tables=sink.tables, redact_content=sink.redact_content)
    builder.add_reports(reports, [e for r in reports for e in synthetic_events(r, events_each)])
    return {name: table.open for name, table in builder.tables.items() if table.open}


def write_through_writer(client: Any, database: str, n: int, batch: int, events_each: int, redact: bool) -> None:
    """The writer and the plain baseline, alternating on segments of 100k trajectories."""
    tables = ("trajectories", "signals", "events") if events_each else ("trajectories", "signals")
    plain_db = f"{database}_plain"
    migrate(client, plain_db)
    sink = Writer(lambda: client, database, max_rows=batch, max_interval=3600, tables=tables, redact_content=redact)
    rates, reports = Rates(), synthetic(n)
    while segment := list(itertools.islice(reports, 100_000)):
        written = sink.rows_written
        rates.writer_s += write_segment(sink, segment, events_each)
        rates.writer_rows += sink.rows_written - written
        table_rows = built_rows(sink, segment, events_each)
        rates.plain_s += plain_segment(client, plain_db, table_rows, batch)
        rates.plain_rows += sum(len(built) for built in table_rows.values())
    rates.report(n, events_each)
    client.command(f"DROP DATABASE IF EXISTS {plain_db}")


SIGNAL_TYPE_ARRAY = "[" + ", ".join(f"'{t}'" for t in SIGNAL_TYPES) + "]"
QUALITY_ARRAY = "[" + ", ".join(f"'{q}'" for q in QUALITIES) + "]"


def generated_select(database: str, n: int, older: bool) -> str:
    """``synthetic()``'s distribution in SQL over ``numbers(n)``; ``older``: an earlier, non-final
    version (fewer events, another score) of every tenth trajectory."""
    def uniform(salt: int, versioned: bool = False) -> str:  # versioned: differs between the two versions
        return f"(cityHash64(number, {salt + (100 if older and versioned else 0)}) % 1000000) / 1000000"

    events = "toUInt32(2 + cityHash64(number, 5) % 58)"
    picks = "[0, 0, 1, 1, 2, 3, 4][1 + cityHash64(number, 1) % 7]"
    types = (f"arraySort(arrayDistinct(arrayMap(i -> {SIGNAL_TYPE_ARRAY}[1 + cityHash64(number, i) % "
             f"{len(SIGNAL_TYPES)}], range(10, 10 + {picks}))))")
    categories = "arrayMap(t -> substring(t, 1, length(t) - position(reverse(t), '.')), types)"
    rank = pipeline_rank("1.0.0")
    final, version_events = ("0", f"intDiv({events}, 2)") if older else ("1", events)
    first_ts = f"toDateTime64({START} + {uniform(6)} * 86400 * 90, 3, 'UTC')"
    return (
        f"INSERT INTO {database}.trajectories (trajectory_id, tenant_id, agent_id, pipeline_version, version, final, "
        "quality, quality_score, triage_score, signal_types, signal_counts, category_counts, events, tool_calls, "
        "tool_errors, first_ts, last_ts, record) "
        "SELECT concat('traj-', leftPad(toString(number), 8, '0')) AS id, concat('tenant-', toString(number % 3)), "
        f"concat('agent-', toString(number % 20)), '1.0.0', bitOr(bitShiftLeft(toUInt64({rank}), 24), "
        f"bitOr(bitShiftLeft(toUInt64({version_events}), 1), {final})), {final}, "
        f"{QUALITY_ARRAY}[1 + cityHash64(number, 2) % 5], {uniform(3, True)} * 100, round({uniform(4, True)}, 4), "
        f"{types} AS types, mapFromArrays(types, arrayMap(t -> toUInt32(1), types)), "
        f"mapFromArrays(arrayDistinct({categories}) AS cats, arrayMap(c -> toUInt32(countEqual({categories}, c)), cats)), "
        f"{version_events}, toUInt32(cityHash64(number, 7) % 20), toUInt32(cityHash64(number, 8) % 5), "
        f"{first_ts} AS first, first + {uniform(9)} * 600, concat('{{\"id\": \"', id, '\"}}') "
        f"FROM numbers({n}) {'WHERE number % 10 = 0' if older else ''}"
    )


def generate(client: Any, database: str, n: int) -> None:
    start = time.perf_counter()
    client.command(generated_select(database, n, older=True))
    client.command(generated_select(database, n, older=False))
    stored = client.query(f"SELECT count() FROM {database}.trajectories").result_rows[0][0]
    print(f"generated {n} trajectories in ClickHouse ({stored} rows: every tenth also as an older, non-final "
          f"version) in {time.perf_counter() - start:.1f} s")


def stored_trajectories(client: Any, database: str) -> int:
    """Distinct trajectories stored (without FINAL: an upper bound is enough to decide on reuse)."""
    return int(client.query(f"SELECT uniqExact(trajectory_id) FROM {database}.trajectories").result_rows[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=20_000, help="rows per insert (the writer's max_rows)")
    parser.add_argument("--writer-max", type=int, default=1_000_000, help="above this n, generate in SQL")
    parser.add_argument("--repeat", type=int, default=20, help="runs of each sampling query (0: none)")
    parser.add_argument("--dsn", default="")
    parser.add_argument("--database", default="bench")
    parser.add_argument("--events", type=int, default=0, help="synthetic events per trajectory (events table)")
    parser.add_argument("--redact", action="store_true", help="content redaction on (SIGNALS_REDACT_CONTENT=1)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout whose sampling code runs too, interleaved (see above)")
    parser.add_argument("--only", default="", help="comma-separated strategies to run (default: all)")
    parser.add_argument("--reuse", action="store_true",
                        help="with --dsn: keep the data a previous run generated there when it has --n trajectories")
    args = parser.parse_args()
    workdir = "" if args.dsn else tempfile.mkdtemp(prefix="bench-ch-")
    try:
        run(connect(args.dsn or f"chdb://{workdir}"), args)
    finally:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def run(client: Any, args: argparse.Namespace) -> None:
    db = args.database
    migrate(client, db)
    if args.reuse and args.dsn and stored_trajectories(client, db) == args.n:
        print(f"reusing the {args.n} trajectories stored in {db}")
    elif args.n <= args.writer_max:
        client.command(f"TRUNCATE TABLE IF EXISTS {db}.trajectories")
        write_through_writer(client, db, args.n, args.batch, args.events, args.redact)
    else:
        client.command(f"TRUNCATE TABLE IF EXISTS {db}.trajectories")
        generate(client, db, args.n)
    if not args.repeat:
        return
    if not args.only:
        timed("FINAL count", lambda: client.query(f"SELECT count() FROM {db}.trajectories FINAL").result_rows[0][0],
              args.repeat)
    baseline = load_sampling(args.baseline) if args.baseline else None
    for strategy, extra in (("signals", {"agent": "agent-7"}), ("stratified", {}), ("diverse", {}), ("random", {}),
                            ("heuristic", {})):
        if args.only and strategy not in args.only.split(","):
            continue
        selection = Selection(strategy=strategy, n=50, seed=7, **extra)
        label = f"{strategy} 50 {extra or ''}"
        if baseline is None:
            timed(label, lambda s=selection: sample(client, s, db), args.repeat)
            continue
        module, selections = baseline
        before = selections.Selection(strategy=strategy, n=50, seed=7, **extra)
        variants: dict[str, Callable[[], object]] = {
            "before": functools.partial(module.sample, client, before, db),
            "after": functools.partial(sample, client, selection, db)}
        runs(label, variants, args.repeat)

if __name__ == "__main__":
    main()
