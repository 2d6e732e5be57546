"""Benchmark the ClickHouse sink and sampling on synthetic reports (embedded chDB by default).

    .venv/bin/python bench/bench_clickhouse.py --n 1000000 [--dsn chdb:///tmp/bench-ch] [--batch 100000]
    .venv/bin/python bench/bench_clickhouse.py --n 20000 --events 10 [--redact]   # with event rows

Prints insert rate (rows/s through sinks.writer.Writer, including row building) and the time of a
FINAL count, top-50 by triage for one agent, and 50-row stratified, diverse and random samples.
``--events K`` also writes K synthetic events per trajectory (messages, tool calls and results with
some emails, phone numbers and keys) to the events table; ``--redact`` turns on content redaction
(``SIGNALS_REDACT_CONTENT=1``: every event string and signal snippet redacted before insert).
"""

from __future__ import annotations

import argparse
import itertools
import random
import shutil
import tempfile
import time
from collections.abc import Iterator

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
from sinks.client import connect
from sinks.migrate import migrate
from sinks.sampling import sample
from sinks.selection import Selection
from sinks.writer import Writer

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


def timed(label: str, action, repeat: int = 3) -> None:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    print(f"{label:<32} {best * 1000:8.1f} ms  ({len(result) if hasattr(result, '__len__') else result})")


def insert(sink: Writer, n: int, events_each: int) -> float:
    """Seconds spent in ``sink`` writing ``n`` synthetic reports and their events (row building
    included, generating the synthetic data excluded)."""
    elapsed = 0.0
    reports = synthetic(n)
    while chunk := list(itertools.islice(reports, 10_000)):
        events = [e for r in chunk for e in synthetic_events(r, events_each)]
        start = time.perf_counter()
        sink.write_reports(chunk, events)
        elapsed += time.perf_counter() - start
    start = time.perf_counter()
    sink.flush()
    return elapsed + time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--dsn", default="")
    parser.add_argument("--database", default="bench")
    parser.add_argument("--events", type=int, default=0, help="synthetic events per trajectory (events table)")
    parser.add_argument("--redact", action="store_true", help="content redaction on (SIGNALS_REDACT_CONTENT=1)")
    args = parser.parse_args()
    workdir = "" if args.dsn else tempfile.mkdtemp(prefix="bench-ch-")
    dsn = args.dsn or f"chdb://{workdir}"
    client = connect(dsn)
    migrate(client, args.database)
    client.command(f"TRUNCATE TABLE IF EXISTS {args.database}.trajectories")
    tables = ("trajectories", "signals", "events") if args.events else ("trajectories", "signals")
    sink = Writer(lambda: client, args.database, max_rows=args.batch, max_interval=3600, tables=tables,
                redact_content=args.redact)
    elapsed = insert(sink, args.n, args.events)
    print(f"inserted {args.n} trajectories (+ their signal rows, {args.events} events each, redaction "
          f"{'on' if args.redact else 'off'}) in {elapsed:.1f} s: {args.n / elapsed:,.0f} trajectories/s, "
          f"{args.n * args.events / elapsed:,.0f} events/s")
    db = args.database
    timed("FINAL count", lambda: client.query(f"SELECT count() FROM {db}.trajectories FINAL").result_rows[0][0])
    for strategy, extra in (("signals", {"agent": "agent-7"}), ("stratified", {}), ("diverse", {}), ("random", {}),
                            ("heuristic", {})):
        selection = Selection(strategy=strategy, n=50, seed=7, **extra)
        timed(f"{strategy} 50 {extra or ''}", lambda s=selection: sample(client, s, db))
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
