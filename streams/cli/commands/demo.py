"""`signals demo [PATH...]`: the main job end to end, then what a person should look at.

Through Kafka when a broker answers at SIGNALS_KAFKA or Java can start the local one
(infra/kafka/start.sh; stopped again unless --keep-broker): a worker subprocess (memory store, fresh
app id and topics, the ClickHouse sink) gets the files from `signals produce`, and the demo waits
until every trajectory's final record is in ClickHouse. Otherwise, or with --in-process: exactly
`signals load` (``streams.cli.commands.load.load_records``, content redaction included). Then a
summary and a `signals sample`-like table.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from detectors.adapters import AdapterError, Trajectory, read_trajectories
from detectors.session import Engine, analyze
from sinks.gateway import post, worker_url
from sinks.migrate import migrate
from sinks.service import execute
from sinks.writer import ClickHouseUnavailable, Writer
from streams.cli.commands.flags import (
    add_connection_args,
    add_settings_flags,
    checked_engine,
    settings_from_args,
)
from streams.cli.commands.load import load_records
from streams.cli.commands.migrate import open_direct
from streams.cli.commands.worker import command_line, fresh_names
from streams.cli.demo_view import Run, render
from streams.errors import CliError
from streams.pipeline import from_files
from streams.settings import Settings, child_env

REPO = Path(__file__).resolve().parents[3]  # streams/cli/commands/demo.py -> the repo
SAMPLE = REPO / "infra" / "sample" / "trajectories.jsonl"
TAU_BENCH = REPO.parent / "shared" / "data" / "tau-bench" / "gpt-4o-airline-dev.json"  # richer, when beside the repo
WAIT_S = 180.0
DEDUPLICATED_AFTER_S = 10.0  # all records stored earlier, none new for this long: a deduplicated rerun


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("demo", help="run the pipeline on sample trajectories and show what to review")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="trajectory files (default: the bundled sample)")
    parser.add_argument("--in-process", action="store_true", help="skip Kafka: analyze and load in this process")
    parser.add_argument("--keep-broker", action="store_true", help="leave a broker started by the demo running")
    parser.add_argument("--n", type=int, default=10, help="trajectories in the review sample (default 10)")
    add_connection_args(parser)
    add_settings_flags(parser, ("kafka", "pipeline_version", "redact_content", "triage_config"))
    parser.set_defaults(func=run)


def default_paths() -> list[str]:
    return [str(TAU_BENCH if TAU_BENCH.is_file() else SAMPLE)]


def run(args: argparse.Namespace) -> int:
    paths = args.paths or default_paths()
    trajectories = read_all(paths)
    settings = settings_from_args(args)
    checked_engine(settings)  # a bad triage config is a usage error, before any broker or database starts
    kafka = not args.in_process and (broker_up(settings) or shutil.which("java") is not None)
    started = time.perf_counter()
    if kafka:
        pipeline_s = through_kafka(settings, trajectories, keep_broker=args.keep_broker)
    else:
        pipeline_s = in_process(settings, trajectories)
    total_s = time.perf_counter() - started
    engine_s = engine_seconds(trajectories, checked_engine(settings))
    client, database = open_direct(settings)
    try:
        stats = execute(client, "stats", {"database": database})
        sample = execute(client, "sample", {"strategy": "signals", "n": args.n, "database": database})
    finally:
        client.close()
    mode = f"Kafka {settings.kafka}" if kafka else "in-process"
    render(Run(paths, mode, len(trajectories), sum(len(t.events) for t in trajectories), engine_s, pipeline_s,
               total_s, settings.clickhouse_dsn, database), stats, sample)
    return 0


def engine_seconds(trajectories: list[Trajectory], engine: Engine) -> float:
    """The detectors alone on these trajectories, in this process (the work, not the I/O around it);
    the lexicon automaton is built before the clock starts."""
    analyze(trajectories[0].id, trajectories[0].events, engine=engine)
    started = time.perf_counter()
    for trajectory in trajectories:
        analyze(trajectory.id, trajectory.events, engine=engine)
    return time.perf_counter() - started


def read_all(paths: list[str]) -> list[Trajectory]:
    try:
        trajectories = [t for path in paths for t in read_trajectories(path)]
    except (AdapterError, OSError) as error:
        raise CliError("trajectory files in a supported format", str(error), "see `signals analyze --help`") from error
    if not trajectories:
        raise CliError("at least one trajectory", f"none in {', '.join(paths)}", "pass a non-empty file")
    return trajectories


def in_process(settings: Settings, trajectories: list[Trajectory]) -> float:
    """What `signals load` does with the same settings; the seconds of the load (the schema
    applied before it is startup)."""
    client, db = open_direct(settings)
    writer = Writer(lambda: client, db, backoff=settings.sink_backoff(), redact_content=settings.redact_content)
    try:
        migrate(client, db)
        started = time.perf_counter()
        load_records(writer, from_files(trajectories, pipeline_version=settings.pipeline_version,
                                      engine=checked_engine(settings)))
        return time.perf_counter() - started
    except ClickHouseUnavailable as error:
        raise CliError("a writable ClickHouse", str(error.cause), "check SIGNALS_CLICKHOUSE") from error
    finally:
        writer.holder.close()


# ------------------------------------------------------------------------------ through Kafka


def broker_up(settings: Settings) -> bool:
    import socket
    host, _, port = settings.brokers[0].rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=2):
            return True
    except (OSError, ValueError):
        return False


def through_kafka(settings: Settings, trajectories: list[Trajectory], *, keep_broker: bool) -> float | None:
    """Seconds from the first event produced to the last final record inserted (see run_worker)."""
    started_broker = False
    if not broker_up(settings):
        start_broker(settings)
        started_broker = not keep_broker
    try:
        with tempfile.TemporaryDirectory(prefix="signals-demo-") as workdir:
            return run_worker(settings, trajectories, Path(workdir))
    finally:
        if started_broker:
            subprocess.run(["bash", str(REPO / "infra/kafka/stop.sh")], env=broker_env(settings),
                           capture_output=True, timeout=120, check=False)


def broker_env(settings: Settings) -> dict[str, str]:
    return child_env(KAFKA_PORT=settings.brokers[0].rpartition(":")[2])


def start_broker(settings: Settings) -> None:
    print(f"starting the local Kafka broker at {settings.brokers[0]} (infra/kafka/start.sh) ...", flush=True)
    done = subprocess.run(["bash", str(REPO / "infra/kafka/start.sh")], env=broker_env(settings),
                          capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise CliError("a Kafka broker (infra/kafka/start.sh)", done.stderr.strip()[-500:] or "start failed",
                       "install Java >= 11 and Maven, or run `signals demo --in-process`")


def run_worker(settings: Settings, trajectories: list[Trajectory], workdir: Path) -> float | None:
    """The worker's seconds of work: from producing the first event, once the worker has joined its
    group (startup), to the newest final record it inserted, on the ClickHouse clock both ends."""
    from streams.cli.commands.produce import produce
    from streams.kafka import wait_group_stable
    dsn = settings.clickhouse_dsn
    if worker_url(dsn):
        raise CliError(f"no other worker holding {dsn}", "a running worker", "stop it, or pass --dsn elsewhere")
    names = fresh_names("demo")
    log_path = workdir / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(worker_argv(settings, names, workdir), stdout=log, stderr=subprocess.STDOUT)
        try:
            url = wait_for_worker(worker, dsn, log_path)
            ids = [t.id for t in trajectories]
            asyncio.run(wait_group_stable(settings, names["app_id"], WAIT_S))
            since_ms = server_now_ms(worker, url, log_path)
            producing = Settings.from_env({"kafka": settings.kafka, "topic_events": names["topic_events"]})
            asyncio.run(produce(producing, trajectories, batch=20))
            last_ms = wait_landed(worker, url, ids, log_path, since_ms=since_ms)
            return None if last_ms is None else max(last_ms - since_ms, 1) / 1000
        finally:
            stop(worker)


def worker_argv(settings: Settings, names: dict[str, str], workdir: Path) -> list[str]:
    return command_line({
        **names, "kafka": settings.kafka, "clickhouse": settings.clickhouse_dsn,
        "clickhouse_database": settings.clickhouse_database, "pipeline_version": settings.pipeline_version,
        "redact_content": settings.redact_content, "store": "memory://", "data_dir": workdir,
        "web_port": free_port(), "metrics_port": 0, "partitions": 2, "sink_batch_within_s": 0.2})


def free_port() -> int:
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_worker(worker: subprocess.Popen[bytes], dsn: str, log_path: Path) -> str:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        alive(worker, log_path)
        url = worker_url(dsn)
        if url:
            return url
        time.sleep(0.2)
    raise CliError("the demo worker to start", f"no web view after {WAIT_S:.0f}s", f"see {log_path}")


def server_now_ms(worker: subprocess.Popen[bytes], url: str, log_path: Path) -> int:
    """The ClickHouse server's clock, through the worker (asked again while its schema is applied)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        alive(worker, log_path)
        try:
            return int(post(url, "landed", {"ids": [], "since_ms": 0})[0]["now_ms"])
        except (ConnectionError, OSError, KeyError, ValueError):
            time.sleep(0.2)
    raise CliError("the demo worker's ClickHouse to answer", f"no answer after {WAIT_S:.0f}s", f"see {log_path}")


def wait_landed(worker: subprocess.Popen[bytes], url: str, ids: list[str], log_path: Path, *,
                since_ms: int = 0) -> int | None:
    """Wait until every id has a final record inserted at or after ``since_ms`` (the server's
    clock); return when the last was inserted (ms, that clock). When every id is stored but the
    count since does not move for DEDUPLICATED_AFTER_S (a rerun on the same path: ClickHouse
    deduplicates identical batches), the newest insert of this run, or None if it inserted nothing."""
    deadline, landed = time.monotonic() + WAIT_S, 0
    unchanged_since: tuple[int, float] | None = None  # (landed, since when) once every id is stored
    while time.monotonic() < deadline:
        alive(worker, log_path)
        try:
            answer = post(url, "landed", {"ids": ids, "since_ms": since_ms})[0]
            landed, stored = int(answer["final"]), int(answer["stored"])
        except (ConnectionError, OSError, KeyError, ValueError):
            landed, stored = -1, -1  # schema not there yet, or ClickHouse busy: ask again
        if landed == len(set(ids)):
            return int(answer["last_ms"])
        if stored == len(set(ids)):  # all there, some from an earlier run: its identical batches are deduplicated
            if unchanged_since is None or unchanged_since[0] != landed:
                unchanged_since = (landed, time.monotonic())
            elif time.monotonic() - unchanged_since[1] > DEDUPLICATED_AFTER_S:
                return int(answer["last_ms"]) if landed > 0 else None
        time.sleep(0.3)
    raise CliError(f"{len(set(ids))} final records in ClickHouse", f"{landed} after {WAIT_S:.0f}s",
                   f"see the worker log {log_path}")


def alive(worker: subprocess.Popen[bytes], log_path: Path) -> None:
    if worker.poll() is not None:
        tail = log_path.read_text(errors="replace")[-1500:]
        raise CliError("a running demo worker", f"exit code {worker.returncode}:\n{tail}", "fix the error above")


def stop(worker: subprocess.Popen[Any]) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)

