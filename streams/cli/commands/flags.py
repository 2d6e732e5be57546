"""CLI flags made from the ``Settings`` fields: one flag per field, its help naming the environment
variable and the default. A flag given overrides the variable; one not given leaves it alone."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from detectors.session import Engine
from streams.errors import CliError
from streams.pipeline import engine_for
from streams.settings import SECRET_FIELDS, Settings, env_name

# Field -> flag, where the flag is not simply --<field-with-dashes> (kept for compatibility).
FLAG_NAMES = {
    "inactivity_gap_s": "--inactivity-gap", "idle_close_s": "--idle-close", "session_timeout_s": "--session-timeout",
    "sink_batch_within_s": "--sink-within", "clickhouse_ttl_days": "--ttl-days", "clickhouse_cluster": "--cluster",
}
HELP = {
    "clickhouse_cluster": "ClickHouse cluster for the Replicated/Distributed schema",
    "kafka": "Kafka brokers, comma-separated", "clickhouse": "ClickHouse DSN", "partitions": "partitions of created topics",
    "pipeline_version": "version stamped on records", "inactivity_gap_s": "event-time gap (s) that closes a session",
    "idle_close_s": "wall-clock quiet time (s) before a quiet partition is ticked",
    "closed_retention_s": "how long (s) a closed session is kept for late events", "store": "Faust table store",
    "data_dir": "local state: sessions table, embedded ClickHouse, replay checkpoints",
    "web_port": "query view port (0: off)", "metrics_port": "Prometheus /metrics port (0: off)",
    "topic_otlp": "topic of OTLP traces from the Collector's kafka exporter (none: not read)",
    "otlp_encoding": "encoding of the OTLP topic's records: otlp_proto or otlp_json",
    "max_event_bytes": "larger messages go to the DLQ", "batch_max": "messages per ingest batch",
    "sink": "write to ClickHouse", "sink_events": "also write the raw events",
    "sink_batch_max": "records per ClickHouse write", "sink_batch_within_s": "... or what arrived within (s)",
    "redact_content": "redact stored event payloads too",
    "triage_config": "triage weights written by `signals calibrate --out` (TOML)", "session_timeout_s": "a dead worker's partitions move after (s)",
    "clickhouse_database": "ClickHouse database", "clickhouse_ttl_days": "keep rows N days (0: forever)",
    "topic_replication": "replication factor of created topics",
    "sink_backoff_s": "first retry delay (s) of a failed ClickHouse write",
    "sink_max_backoff_s": "longest retry delay (s)",
    "sink_retries": "failed retries before load/demo/replay give up (the worker holds the batch)",
    "commit_every": "Faust: commit after N acked messages",
    "web_host": "interface of the web servers (0.0.0.0: every interface)",
    "metrics_host": "interface of /metrics", "web_token_file": "file holding the web token (pages and API need it)",
    "web_builtin_views": "serve Faust's own views (/router/, /table/, ...)", "review_port": "`signals serve` port",
    "reviewer": "name stored with labels when the page gives none",
    "commit_interval_s": "Faust: ... or every (s)", "stream_buffer_maxsize": "Faust: messages buffered per stream",
    "processes": "worker processes of one consumer group on this host (streams/worker/supervisor.py)",
    "ingest": "run the ingest agent (false: only the sink and alerts agents)",
    "otlp_http_port": "OTLP/HTTP receiver port, POST /v1/traces (0: off; conventionally 4318)",
    "otlp_http_host": "OTLP/HTTP receiver bind address",
    "otlp_max_request_bytes": "largest OTLP request body, decompressed (larger: 413)",
    "otlp_max_inflight_bytes": "OTLP request bytes being written to Kafka before 429s",
    "otlp_produce_timeout_s": "Kafka ack wait (s) of an OTLP request before a 503",
    "otlp_export_endpoint": "OTLP/HTTP endpoint the signals are sent to as spans (none: off)",
    "otlp_export_queue": "final records waiting for the OTLP exporter (more are dropped)",
    "otlp_export_timeout_s": "timeout (s) of one OTLP export POST",
    "otlp_export_retries": "retries of a failed OTLP export POST",
}
_DEFAULTS = Settings()
_TYPES: dict[type, Callable[[str], Any]] = {int: int, float: float}


def flag_of(field: str) -> str:
    return FLAG_NAMES.get(field, "--" + field.replace("_", "-"))


def describe(field: str) -> str:
    """'(env SIGNALS_X, default 4)' for --help."""
    default = getattr(_DEFAULTS, field)
    if field == "clickhouse":
        default = "chdb://<data dir>/clickhouse"
    elif field == "pipeline_version":
        default = "the package version"
    elif default == "":
        default = "none"
    return f"env {env_name(field)}, default {default}"


def add_settings_flags(parser: argparse.ArgumentParser, fields: tuple[str, ...] | None = None) -> None:
    """``--<field>`` flags for ``fields`` (default: every field but secrets and test hooks)."""
    chosen = fields or tuple(f for f in Settings.__struct_fields__
                             if f not in SECRET_FIELDS and not f.startswith("fault_"))
    for field in chosen:
        kind = type(getattr(_DEFAULTS, field))
        parser.add_argument(flag_of(field), dest=field, type=_TYPES.get(kind, str), default=None,
                            metavar=field.upper(), help=f"{HELP.get(field, field.replace('_', ' '))} ({describe(field)})")


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    """--dsn and --database (ClickHouse), --data-dir (where the default embedded ClickHouse is)."""
    parser.add_argument("--dsn", dest="clickhouse", default=None, metavar="DSN",
                        help=f"ClickHouse DSN: chdb://PATH or http(s)://user:pass@host:8123 ({describe('clickhouse')})")
    parser.add_argument("--database", dest="clickhouse_database", default=None,
                        help=f"ClickHouse database ({describe('clickhouse_database')})")
    if not any("--data-dir" in action.option_strings for action in parser._actions):
        add_settings_flags(parser, ("data_dir",))


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings.from_env({field: getattr(args, field, None) for field in Settings.__struct_fields__})


def checked_engine(settings: Settings) -> Engine:
    """The engine with the settings' triage weights; a CLI error if the config cannot be read."""
    try:
        return engine_for(settings.triage_config)
    except ValueError as error:
        raise CliError("a triage config written by `signals calibrate --out`", str(error),
                       "fix the path in --triage-config / SIGNALS_TRIAGE_CONFIG, or leave it unset "
                       "for the packaged weights") from None
