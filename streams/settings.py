"""Settings of every command: the ONLY module that reads environment variables.

``Settings.from_env(overrides)`` reads ``SIGNALS_*`` variables (defaults below), then applies
``overrides`` (CLI flags; ``None`` means "not given"). Secrets never appear in ``masked()``.
Everything else (``sinks/`` included) takes these values as arguments; the CLI's flags are made
from the fields (``streams/cli/commands/flags.py``), each naming its variable and default in --help.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any

import msgspec

from sinks.cluster import quote as quote_cluster
from sinks.config import database_name, resolve_dsn
from streams.errors import CliError

if TYPE_CHECKING:
    from sinks.writer import Backoff
    from streams.alerts import AlertConfig

OTLP_ENCODINGS = ("otlp_proto", "otlp_json")  # the Collector kafka exporter's names
SECRET_FIELDS = frozenset({"kafka_password", "alert_webhook", "web_token"})  # a webhook URL is a credential
# Field -> environment variable, where the name is not simply SIGNALS_<FIELD>.
ENV_NAMES = {"kafka": "SIGNALS_KAFKA", "clickhouse": "SIGNALS_CLICKHOUSE"}
DEFAULT_TOPIC_OTLP = "otlp_spans"  # the OTLP/HTTP receiver's topic when none is set (the Collector's default)


def package_version() -> str:
    try:
        return metadata.version("agent-signals")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    kafka: str = "kafka://127.0.0.1:9092"
    clickhouse: str = ""  # empty: chdb://<data_dir>/clickhouse (see clickhouse_dsn)
    topic_events: str = "agent-events"
    topic_signals: str = "agent-signals"
    topic_trajectories: str = "agent-trajectories"
    topic_dlq: str = "agent-events-dlq"
    # OpenTelemetry traces as the Collector's kafka exporter writes them (records without key or
    # headers, one TracesData per record); empty: not read. Decoded at the worker's ingest step.
    topic_otlp: str = ""
    otlp_encoding: str = "otlp_proto"  # otlp_proto | otlp_json: the records of topic_otlp
    partitions: int = 4
    pipeline_version: str = ""
    inactivity_gap_s: float = 1800.0  # event-time gap that closes a session
    idle_close_s: float = 60.0  # wall-clock quiet time before a partition is ticked
    closed_retention_s: float = 3600.0  # closed sessions kept (wall clock) to absorb redeliveries
    # An open trajectory's interim record goes out at most this often (wall clock; its first at
    # once, the latest held one on a timer); a final record always at once. 0: on every update.
    record_interval_s: float = 1.0
    session_cache: int = 10_000  # sessions kept decoded between batches (each saves a decode); 0: none
    store: str = "rocksdb://"
    data_dir: str = "./data"
    web_port: int = 6066
    metrics_port: int = 9108  # 0 disables /metrics
    web_host: str = "127.0.0.1"  # interface of the worker's web server and of `signals serve` (0.0.0.0: all)
    metrics_host: str = "127.0.0.1"  # interface of /metrics
    web_token: str = ""  # when set, every page and API call of the web servers needs it (Bearer or login cookie)
    web_token_file: str = ""  # ... or read it from this file
    web_builtin_views: bool = False  # Faust's own views (/router/, /table/, ...): off unless enabled
    review_port: int = 8088  # `signals serve`
    reviewer: str = ""  # name stored with labels when the page does not say ("" : "reviewer")
    max_event_bytes: int = 1 << 20
    app_id: str = "agent-signals"
    batch_max: int = 2000  # messages per take_events batch
    batch_within_s: float = 0.05
    sink: bool = True  # write records, signals and raw events to ClickHouse
    sink_events: bool = True  # also the raw events table (a second agent on the events topic)
    sink_batch_max: int = 5000  # records per ClickHouse write
    sink_batch_within_s: float = 1.0  # ... or whatever arrived within this many seconds
    redact_content: bool = False  # also redact stored event payloads (snippets always are)
    triage_config: str = ""  # triage weights written by `signals calibrate` ("" : the packaged ones)
    session_timeout_s: float = 30.0  # a dead worker's partitions move after this long
    kafka_security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    kafka_sasl_mechanism: str = ""  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    kafka_username: str = ""
    kafka_password: str = ""
    kafka_password_file: str = ""
    kafka_ca_file: str = ""
    clickhouse_database: str = "signals"  # database for tables and queries
    clickhouse_ttl_days: int = 0  # keep rows N days after insertion (0: forever); applied by migrate
    clickhouse_cluster: str = ""  # migrate: the Replicated/Distributed schema ON CLUSTER this name (sinks/cluster.py)
    topic_replication: int = 1  # replication factor of the topics the worker creates
    sink_backoff_s: float = 0.5  # first retry delay of a failed ClickHouse write (doubles each time)
    sink_max_backoff_s: float = 15.0  # ... up to this
    sink_retries: int = 4  # load, demo and replay give up after this many failed retries (the worker never does)
    producer_linger_ms: int = 5  # Faust producer batching delay
    commit_every: int = 10_000  # Faust: commit after this many acked messages ...
    commit_interval_s: float = 1.0  # ... or this often
    stream_buffer_maxsize: int = 8192  # Faust: messages buffered per stream before it pauses fetching
    table_cleanup_interval_s: float = 3600.0  # Faust table cleanup timer
    shutdown_timeout_s: float = 30.0  # SIGTERM/SIGINT -> the worker has exited within this many seconds
    gc_young_threshold: int = 10_000  # allocations between young-generation GC passes (Python: 700); 0 keeps Python's (streams/runtime.py)
    # `signals worker --processes N`: N worker processes of one consumer group (streams/worker/supervisor.py)
    processes: int = 1
    ingest: bool = True  # run the ingest agent (false: a worker that only sinks and alerts, the chDB sink process)
    # Spike alerts (docs/alerts.md): event-time windows of signal counts per agent and category.
    alerts: bool = True  # run the alerts agent in the worker
    topic_alerts: str = "agent-alerts"
    alert_window_s: int = 300  # tumbling window (event time)
    alert_grace_s: float = 60.0  # a window closes once the watermark is this far past its end
    alert_baseline_windows: int = 12  # the baseline: mean count of this many previous windows
    alert_ratio: float = 3.0  # spike: count >= ratio x max(baseline, floor) ...
    alert_min_count: int = 10  # ... and count >= this
    alert_floor: float = 1.0
    alert_cooldown_s: float = 1800.0  # no second alert on a key within this (event time) after one
    alert_max_keys: int = 10_000  # (agent, category) keys kept; the least recently fed is evicted
    alert_idle_s: float = 30.0  # a signals partition quiet this long (wall clock) stops holding the watermark
    alert_webhook: str = ""  # POST {"text": ...} (Slack-compatible) per alert; empty: off
    alert_webhook_retries: int = 2  # failed retries before an alert's POST is given up
    alert_webhook_timeout_s: float = 5.0
    # The OTLP/HTTP receiver in the worker (POST /v1/traces -> topic_otlp, acks=all); 0: off. With
    # the receiver on and topic_otlp empty, topic_otlp is DEFAULT_TOPIC_OTLP.
    otlp_http_port: int = 0  # conventionally 4318
    otlp_http_host: str = "127.0.0.1"
    otlp_max_request_bytes: int = 16 << 20  # a request body, decompressed; larger: 413
    otlp_max_inflight_bytes: int = 64 << 20  # request bytes being written to Kafka; past it: 429
    otlp_produce_timeout_s: float = 10.0  # Kafka has not acked a request's records by then: 503
    # Signals back out as OTLP/HTTP protobuf (e.g. http://collector:4318/v1/traces); empty: off.
    otlp_export_endpoint: str = ""
    otlp_export_queue: int = 10_000  # final records waiting to be sent; more are dropped (counted)
    otlp_export_timeout_s: float = 10.0  # one POST
    otlp_export_retries: int = 5  # retries of a failed POST (backoff 0.5 s doubling, capped at 30 s)
    # TEST HOOK (fault tests only): while this file exists, every ClickHouse insert of the sink fails
    # as if the server were unreachable ("writer blocked"); queries and migrations are unaffected.
    fault_sink_block_file: str = ""

    @classmethod
    def from_env(cls, overrides: Mapping[str, Any] | None = None,
                 env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        raw: dict[str, Any] = {}
        for name in cls.__struct_fields__:
            value = env.get(env_name(name))
            if value not in (None, ""):
                raw[name] = value
        raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
        raw.setdefault("pipeline_version", package_version())
        settings = _convert(raw)
        return settings.with_password_file().with_web_token_file()

    def with_password_file(self) -> Settings:
        if self.kafka_password or not self.kafka_password_file:
            return self
        try:
            with open(self.kafka_password_file, encoding="utf-8") as handle:
                password = handle.read().strip()
        except OSError as error:
            raise CliError("a readable SIGNALS_KAFKA_PASSWORD_FILE", str(error),
                           "point it at a file holding only the password") from None
        return msgspec.structs.replace(self, kafka_password=password)

    def with_web_token_file(self) -> Settings:
        if self.web_token or not self.web_token_file:
            return self
        try:
            with open(self.web_token_file, encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError as error:
            raise CliError("a readable SIGNALS_WEB_TOKEN_FILE", str(error),
                           "point it at a file holding only the token") from None
        if not token:
            raise CliError("a token in SIGNALS_WEB_TOKEN_FILE", f"{self.web_token_file} is empty",
                           "write the token into the file, or unset the variable") from None
        return msgspec.structs.replace(self, web_token=token)

    @property
    def brokers(self) -> list[str]:
        """``kafka://a:9092,b:9092`` -> ``["a:9092", "b:9092"]`` (for aiokafka)."""
        hosts = self.kafka.split("://", 1)[-1]
        return [h.split("://", 1)[-1].strip().rstrip("/") for h in hosts.split(",") if h.strip()]

    @property
    def clickhouse_dsn(self) -> str:
        """The ClickHouse DSN of every command; by default the embedded engine under the data dir
        (a relative chdb path made absolute)."""
        return resolve_dsn(self.clickhouse or f"chdb://{self.data_dir.rstrip('/')}/clickhouse")

    def sink_backoff(self) -> Backoff:
        """How every ClickHouse writer retries (the worker lifts the retry limit: it holds the batch)."""
        from sinks.writer import Backoff  # late: the writer's imports are not every command's
        return Backoff(self.sink_backoff_s, self.sink_max_backoff_s, self.sink_retries)

    def alert_config(self) -> AlertConfig:
        """The spike detector's configuration (streams/alerts.py)."""
        from streams.alerts import AlertConfig
        return AlertConfig(window_s=self.alert_window_s, grace_s=self.alert_grace_s,
                           baseline_windows=self.alert_baseline_windows, ratio=self.alert_ratio,
                           min_count=self.alert_min_count, floor=self.alert_floor,
                           cooldown_s=self.alert_cooldown_s, max_keys=self.alert_max_keys)

    def masked(self) -> dict[str, Any]:
        shown = msgspec.structs.asdict(self)
        for name in SECRET_FIELDS:
            if shown[name]:
                shown[name] = "***"
        shown["clickhouse"] = re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", shown["clickhouse"])
        return shown


def env_name(field: str) -> str:
    """The environment variable of a Settings field."""
    return ENV_NAMES.get(field, f"SIGNALS_{field.upper()}")


def debug_enabled() -> bool:
    """SIGNALS_DEBUG=1: the CLI shows tracebacks (read on its own: settings may be what failed)."""
    return os.environ.get("SIGNALS_DEBUG", "") not in ("", "0", "false")


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess (this one's, plus ``extra``)."""
    return {**os.environ, **extra}


def _convert(raw: dict[str, Any]) -> Settings:
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as error:
        raise CliError("valid SIGNALS_* settings", str(error), "fix the variable or flag named") from None
    if settings.partitions < 1:
        raise CliError("SIGNALS_PARTITIONS >= 1", str(settings.partitions), "use a positive count")
    _processes(settings)
    if settings.otlp_encoding not in OTLP_ENCODINGS:
        raise CliError("SIGNALS_OTLP_ENCODING one of " + ", ".join(OTLP_ENCODINGS), settings.otlp_encoding,
                       "otlp_proto (the Collector's default) or otlp_json")
    if settings.session_cache < 0:
        raise CliError("SIGNALS_SESSION_CACHE >= 0", str(settings.session_cache),
                       "a number of sessions, or 0 to decode every session from the table")
    if settings.record_interval_s < 0:
        raise CliError("SIGNALS_RECORD_INTERVAL_S >= 0", str(settings.record_interval_s),
                       "seconds between an open trajectory's interim records, or 0 for every update")
    if settings.gc_young_threshold < 0:
        raise CliError("SIGNALS_GC_YOUNG_THRESHOLD >= 0", str(settings.gc_young_threshold),
                       "a number of allocations, or 0 to keep Python's collector settings")
    if settings.max_event_bytes < 1:
        raise CliError("SIGNALS_MAX_EVENT_BYTES >= 1", str(settings.max_event_bytes), "use a positive size")
    if settings.sink_retries < 0:
        raise CliError("SIGNALS_SINK_RETRIES >= 0", str(settings.sink_retries), "a number of retries, or 0 for none")
    if settings.alert_window_s < 1 or settings.alert_baseline_windows < 1 or settings.alert_max_keys < 1:
        raise CliError("SIGNALS_ALERT_WINDOW_S, _BASELINE_WINDOWS and _MAX_KEYS >= 1",
                       f"{settings.alert_window_s}, {settings.alert_baseline_windows}, {settings.alert_max_keys}",
                       "use positive values")
    if settings.clickhouse_ttl_days < 0:
        raise CliError("SIGNALS_CLICKHOUSE_TTL_DAYS (--ttl-days) >= 0", str(settings.clickhouse_ttl_days),
                       "a number of days, or 0 to keep rows forever")
    try:
        database_name(settings.clickhouse_database)
    except ValueError as error:
        raise CliError("a database name of letters, digits and _", str(error), "e.g. --database signals") from None
    if settings.clickhouse_cluster:
        try:
            quote_cluster(settings.clickhouse_cluster)
        except ValueError as error:
            raise CliError("SIGNALS_CLICKHOUSE_CLUSTER (--cluster): a cluster name from remote_servers", str(error),
                           "e.g. --cluster prod (the table system.clusters lists the names)") from None
    return _otlp_http(settings)


def _processes(settings: Settings) -> None:
    """SIGNALS_PROCESSES within what the partitions can feed; a worker without ingest has work to do."""
    if settings.processes < 1:
        raise CliError("SIGNALS_PROCESSES (--processes) >= 1", str(settings.processes),
                       "the number of worker processes on this host, e.g. 2 on two cores")
    if settings.processes > settings.partitions:
        raise CliError(f"SIGNALS_PROCESSES <= SIGNALS_PARTITIONS ({settings.partitions}): a process without "
                       "a partition stays idle", f"--processes={settings.processes}",
                       f"use --processes={settings.partitions} or fewer, or topics with more partitions "
                       "(SIGNALS_PARTITIONS, for topics not created yet)")
    if not settings.ingest and not (settings.sink or settings.alerts):
        raise CliError("SIGNALS_INGEST=false with the sink or the alerts on", "a worker with nothing to run",
                       "set SIGNALS_SINK=true or SIGNALS_ALERTS=true, or leave SIGNALS_INGEST on")


def _otlp_http(settings: Settings) -> Settings:
    """The OTLP/HTTP receiver's and exporter's settings checked; the receiver's default topic."""
    if settings.otlp_http_port and not settings.topic_otlp:
        settings = msgspec.structs.replace(settings, topic_otlp=DEFAULT_TOPIC_OTLP)
    if settings.otlp_max_request_bytes < 1 or settings.otlp_max_inflight_bytes < settings.otlp_max_request_bytes:
        raise CliError("SIGNALS_OTLP_MAX_INFLIGHT_BYTES >= SIGNALS_OTLP_MAX_REQUEST_BYTES >= 1",
                       f"{settings.otlp_max_inflight_bytes} and {settings.otlp_max_request_bytes}",
                       "room for at least one request in flight")
    if settings.otlp_export_endpoint and not settings.otlp_export_endpoint.startswith(("http://", "https://")):
        raise CliError("SIGNALS_OTLP_EXPORT_ENDPOINT an http(s):// URL", settings.otlp_export_endpoint,
                       "e.g. http://collector:4318/v1/traces")
    return settings
