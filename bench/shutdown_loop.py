"""Loop: drain a pre-filled topic, SIGTERM the worker the moment the last final record appears, time the exit.

    .venv/bin/python bench/shutdown_loop.py --kafka kafka://127.0.0.1:PORT [--runs 10] [--trajectories 2000]

The reproduction of issue 15 ("a worker that is told to stop, stops"): each run uses its own topics and
app id, pre-fills the events topic with ``--trajectories`` 20-event trajectories (bench_streaming's)
at one event per message (2,000 -> 42k messages, about the report's backlog), optionally starts and stops a first worker of the same group
(``--warmup``, as in the report), starts one ``signals worker`` (memory store, ClickHouse sink on a
chDB path of its own unless ``--no-sink``), reads the trajectories topic until every final record is
there, sends SIGTERM at once and measures how long the worker takes to exit. A run that has not
exited after ``--hang-after`` seconds counts as a hang (its log is kept, the worker is killed).
Prints one line per run and min / median / max exit times at the end; exit status 1 if any run hung
or exited non-zero.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.*

from bench.bench_streaming import trajectories as long_trajectories  # noqa: E402
from tests.support.faults import produce_in_background, wait_joined, workload  # noqa: E402
from tests.support.kafka import final_records, read_topic  # noqa: E402
from tests.support.worker import worker_argv  # noqa: E402


def one_run(kafka: str, count: int, *, sink: bool, warmup: str | None, hang_after: float, keep: Path, at: float,
            loglevel: str, store: str, long: bool) -> tuple[str, float, int]:
    tag = uuid.uuid4().hex[:10]
    names = {"app_id": f"sd-{tag}", "topic_events": f"sdev-{tag}", "topic_signals": f"sdsig-{tag}",
             "topic_trajectories": f"sdtraj-{tag}", "topic_dlq": f"sddlq-{tag}"}
    data = long_trajectories(count * 20, f"sd{tag[:4]}") if long else workload(count, f"sd{tag[:4]}")
    with tempfile.TemporaryDirectory() as tmp:
        extra = [f"--clickhouse=chdb://{tmp}/ch"] if sink else ["--sink=false"]
        extra.append(f"--store={store}")
        argv = worker_argv(kafka, names, Path(tmp) / "data", *extra, f"--loglevel={loglevel}")
        if warmup:
            first = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_joined(kafka, names)
            first.send_signal(signal.SIGKILL if warmup == "kill" else signal.SIGTERM)
            first.wait(timeout=120)
            stopped = time.monotonic()
        produce_in_background(kafka, names["topic_events"], data, rate=0).join(timeout=600)
        if warmup:  # the report: the second worker started 10 s after the first stopped
            time.sleep(max(0.0, 10 - (time.monotonic() - stopped)))
        log_path = keep / f"{names['app_id']}.log"
        with open(log_path, "wb") as log:
            worker = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
            read_topic(kafka, names["topic_trajectories"], until=lambda ms: len(final_records(ms)) >= at * count,
                       timeout=900)
            worker.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            try:
                rc = worker.wait(timeout=hang_after)
                outcome = "exited"
            except subprocess.TimeoutExpired:
                worker.kill()
                rc = worker.wait(timeout=60)
                outcome = "HUNG"
        seconds = time.monotonic() - sent
    if outcome == "exited" and rc == 0 and b"[ERROR]" not in log_path.read_bytes():
        log_path.unlink()  # kept: logs of hangs, failures and runs with errors
    return outcome, seconds, rc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kafka", required=True)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--trajectories", type=int, default=2000)
    parser.add_argument("--short", action="store_true", help="the fault tests' 5-10 event trajectories instead of "
                        "bench_streaming's 20-event ones (2,000 -> 42k messages, like the report's backlog)")
    parser.add_argument("--no-sink", action="store_true", help="worker without the ClickHouse sink")
    parser.add_argument("--warmup", choices=["term", "kill"], default=None,
                        help="start a first worker of the group and stop it (SIGTERM, or SIGKILL: it stays a "
                        "member until its session times out, so the group rebalances mid-drain) 10 s before")
    parser.add_argument("--hang-after", type=float, default=60.0, help="seconds after SIGTERM that count as a hang")
    parser.add_argument("--at", default="1.0", help="SIGTERM once this share of final records is out; "
                        "a comma list cycles over the runs (e.g. 0.5,0.9,1.0: mid-drain, backlog in the sinks)")
    parser.add_argument("--loglevel", default="info", help="the worker's (info shows Faust's agent tracebacks on a hang)")
    parser.add_argument("--store", default="rocksdb://", help="the worker's table store (the default worker's)")
    parser.add_argument("--keep", default=tempfile.gettempdir(), help="where logs of failed runs are kept")
    args = parser.parse_args()
    times, failures = [], 0
    shares = [float(share) for share in args.at.split(",")]
    for run in range(1, args.runs + 1):
        at = shares[(run - 1) % len(shares)]
        outcome, seconds, rc = one_run(args.kafka, args.trajectories, sink=not args.no_sink, warmup=args.warmup,
                                       hang_after=args.hang_after, keep=Path(args.keep), at=at,
                                       loglevel=args.loglevel, store=args.store,
                                       long=not args.short)
        failures += outcome != "exited" or rc != 0
        if outcome == "exited":
            times.append(seconds)
        print(f"run {run} (SIGTERM at {at:.0%} of the final records): {outcome} rc={rc} after {seconds:.1f}s",
              flush=True)
    if times:
        print(f"exit after SIGTERM: min {min(times):.1f}s, median {statistics.median(times):.1f}s, "
              f"max {max(times):.1f}s over {len(times)} exits; {failures} of {args.runs} runs hung or failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
