"""`signals worker`: run the streaming triage worker (Faust) against Kafka."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streams.cli.commands.flags import add_settings_flags, checked_engine, flag_of, settings_from_args
from streams.settings import Settings

MODULE = "streams.cli.commands.worker"  # not __name__: run with -m (as command_line does) that is __main__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_flags(parser)
    parser.add_argument("--loglevel", default="warning", choices=["debug", "info", "warning", "error"])


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("worker", help="run the streaming worker (Kafka in, signals and records out)")
    add_arguments(parser)
    parser.set_defaults(func=run)


def command_line(fields: Mapping[str, object], *extra: str) -> list[str]:
    """The command that runs this worker in a subprocess, the one launcher of `signals demo`, the
    tests and the benches: ``--<flag>=<value>`` for each Settings field in ``fields`` (bools as
    true/false), then ``extra`` flags as given (a later flag wins over an earlier one)."""
    unknown = sorted(set(fields) - set(Settings.__struct_fields__))
    if unknown:
        raise ValueError(f"not Settings fields: {', '.join(unknown)}")
    flags = [f"{flag_of(k)}={str(v).lower() if isinstance(v, bool) else v}" for k, v in fields.items()]
    return [sys.executable, "-m", MODULE, *flags, *extra]


def fresh_names(prefix: str) -> dict[str, str]:
    """A unique app id (consumer group) and topic names, as Settings fields: a worker of its own."""
    tag = uuid.uuid4().hex[:10]
    return {"app_id": f"{prefix}-{tag}", "topic_events": f"{prefix}-events-{tag}",
            "topic_signals": f"{prefix}-signals-{tag}", "topic_trajectories": f"{prefix}-trajectories-{tag}",
            "topic_dlq": f"{prefix}-dlq-{tag}", "topic_alerts": f"{prefix}-alerts-{tag}"}


def run(args: argparse.Namespace) -> int:
    """Run until stopped; the exit code says how it ended (streams/worker/shutdown.py, README "Exit codes")."""
    settings = settings_from_args(args)
    checked_engine(settings)  # an unreadable triage config stops here, with what to fix
    print(json.dumps({"signals worker": settings.masked()}, indent=1), flush=True)
    if settings.processes > 1:
        return supervise(args, settings)
    _use_uvloop()
    # Faust is imported only when a worker really starts
    from streams.worker import faust_fixes
    from streams.worker import shutdown as stop
    try:
        faust_fixes.check()
        stop.check_port(settings.web_port, "SIGNALS_WEB_PORT")
        stop.check_port(settings.metrics_port, "SIGNALS_METRICS_PORT")
        stop.check_port(settings.otlp_http_port, "SIGNALS_OTLP_HTTP_PORT")
    except faust_fixes.IncompatibleFaust as error:
        return _fail(str(error), stop.EXIT_INCOMPATIBLE)
    except stop.PortInUse as error:
        return _fail(str(error), stop.EXIT_PORT_IN_USE)

    from streams.kafka import client_options, ensure_topics
    from streams.worker.app import build_app
    created = asyncio.run(ensure_topics(settings, client_options(settings)))
    if created:
        print(f"created topics: {', '.join(created)}", flush=True)
    (Path(settings.data_dir) / "faust").mkdir(parents=True, exist_ok=True)
    from streams.worker.alerts_agent import register_alerts
    from streams.worker.metrics import Metrics
    from streams.worker.sink_agent import register_sink
    from streams.worker.web import register_web
    metrics = Metrics()  # the sink's figures too (a sink-only worker: those only)
    app, _ = build_app(settings, extensions=[register_sink, register_alerts, register_web], metrics=metrics)
    if settings.store.startswith("rocksdb"):  # a persistent store: is it still a cache of THIS Kafka?
        from streams.worker.local_store import CLUSTER_FILE, reconcile
        changelogs = {table.name: table.changelog_topic.get_topic_name() for table in app.tables.values()}
        asyncio.run(reconcile(Path(app.conf.tabledir), Path(settings.data_dir) / "faust" / CLUSTER_FILE,
                              client_options(settings), changelogs))
    shutdown = stop.Shutdown(app, settings.shutdown_timeout_s)
    try:
        shutdown.closers.append(metrics.serve(settings.metrics_port, settings.metrics_host))
    except OSError:  # taken between the check and now
        return _fail(str(stop.PortInUse(settings.metrics_port, "SIGNALS_METRICS_PORT")), stop.EXIT_PORT_IN_USE)
    worker = bounded_worker(stop)(app, shutdown=shutdown, loglevel=args.loglevel, quiet=True)
    from streams.runtime import tune_gc
    tune_gc(settings)  # the app is built: what exists now is frozen
    try:
        worker.execute_from_commandline()
    except SystemExit:
        pass
    finally:
        shutdown.release()
    stop.exit_now(stop.EXIT_CRASHED if stop.crashed(app, worker) else stop.EXIT_OK)
    return stop.EXIT_OK  # not reached


def supervise(args: argparse.Namespace, settings: Settings) -> int:
    """--processes N: the topics created once, then N workers (streams/worker/supervisor.py) until they exit."""
    from streams.kafka import client_options, ensure_topics
    from streams.worker.supervisor import Supervisor, plan
    created = asyncio.run(ensure_topics(settings, client_options(settings)))  # not N children racing to
    if created:
        print(f"created topics: {', '.join(created)}", flush=True)
    given = {name: value for name in Settings.__struct_fields__ if (value := getattr(args, name, None)) is not None}
    commands = {child.name: command_line({**given, **child.fields}, f"--loglevel={args.loglevel}")
                for child in plan(settings)}
    return Supervisor(commands, settings.shutdown_timeout_s).run()


def bounded_worker(stop: Any) -> Any:
    """Faust's worker class with the bounded stop of ``streams.worker.shutdown`` (Faust is imported late)."""
    from faust.worker import Worker

    class BoundedWorker(Worker):
        """SIGTERM or SIGINT: the bounded stop; a second SIGINT: exit at once."""

        def __init__(self, app: Any, *, shutdown: Any, **kwargs: Any) -> None:
            super().__init__(app, **kwargs)
            self.shutdown = shutdown
            # No terminal spinner: to spin it on every log line, Faust sets the root logger to DEBUG
            # for good, so every debug call in aiokafka and Faust (one per message sent) builds a
            # LogRecord: ~10% of the ingest agent's time (py-spy, bench/bench_ceiling.py).
            self.spinner = None

        def _on_sigterm(self) -> None:
            self._bounded_stop(signal.SIGTERM)

        def _on_sigint(self) -> None:
            if self.shutdown.started:
                self.shutdown.force("a second SIGINT", stop.EXIT_INTERRUPTED)
                return
            self._bounded_stop(signal.SIGINT)

        def _bounded_stop(self, signum: signal.Signals) -> None:
            if self.shutdown.begin(signum.name):
                self._schedule_shutdown(signum)

        def stop_and_shutdown(self) -> None:
            super().stop_and_shutdown()
            self.shutdown.release()
            if self.shutdown.started:
                self.shutdown.finished()

    return BoundedWorker


def _fail(message: str, code: int) -> int:
    print(f"signals worker: {message}", file=sys.stderr, flush=True)
    return code


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="signals worker")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
