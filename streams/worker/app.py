"""The Faust application: settings -> app, topics, session table and agents.

Extensions (the ClickHouse sink agent, the query web view) plug in through ``build_app(settings,
extensions=[fn])``: each ``fn(app, topics, settings)`` registers its own agents, tables or views.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faust
from faust.auth import SASLCredentials, SSLCredentials

from streams.settings import Settings
from streams.worker import faust_fixes
from streams.worker.metrics import Metrics
from streams.worker.topics import Topics, build_topics

if TYPE_CHECKING:
    from streams.worker.agents import Ingest

BUILTIN_VIEW_FLAGS = ("web_router_enabled", "web_tables_enabled", "web_stats_enabled", "web_graph_enabled",
                      "web_metrics_enabled")
Extension = Callable[[faust.App, Topics, Settings], object]  # what it returns is not used


def broker_credentials(settings: Settings) -> Any:
    protocol = settings.kafka_security_protocol.upper()
    if protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(cafile=settings.kafka_ca_file or None)
    if protocol == "SSL":
        return SSLCredentials(context)
    return SASLCredentials(
        username=settings.kafka_username, password=settings.kafka_password,
        mechanism=settings.kafka_sasl_mechanism or "PLAIN",
        ssl_context=context if protocol == "SASL_SSL" else None)


def builtin_views(settings: Settings) -> dict[str, Any]:
    return dict.fromkeys(BUILTIN_VIEW_FLAGS, settings.web_builtin_views)


def create_app(settings: Settings) -> faust.App:
    faust_fixes.apply()
    return faust.App(
        settings.app_id,
        broker=settings.kafka,
        broker_credentials=broker_credentials(settings),
        store=settings.store,
        datadir=str(Path(settings.data_dir) / "faust"),
        topic_partitions=settings.partitions,
        topic_disable_leader=True,
        web_port=settings.web_port or 6066,
        web_bind=settings.web_host,
        web_enabled=settings.web_port > 0,
        # Faust's own views list the session table and the cluster: off unless SIGNALS_WEB_BUILTIN_VIEWS
        **builtin_views(settings),
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=settings.producer_linger_ms,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        broker_commit_every=settings.commit_every,
        broker_commit_interval=settings.commit_interval_s,
        stream_buffer_maxsize=settings.stream_buffer_maxsize,
        table_cleanup_interval=settings.table_cleanup_interval_s,
        topic_replication_factor=settings.topic_replication,
    )


def build_app(settings: Settings, extensions: Iterable[Extension] = (),
              metrics: Metrics | None = None) -> tuple[faust.App, Ingest | None]:
    """The app with its ingest agent, then each extension; all report to ``metrics`` (the process's
    one set, which the worker serves; ``app.metrics`` for the extensions).
    SIGNALS_INGEST=false: no ingest, no OTLP input (None for the ingest), the extensions only."""
    from streams.worker.agents import register_ingest  # imported here: agents needs the app's types
    app = create_app(settings)
    metrics = metrics or Metrics()
    app.metrics = metrics  # type: ignore[attr-defined]
    topics = build_topics(app, settings)
    ingest = register_ingest(app, topics, settings, metrics) if settings.ingest else None
    if ingest is not None:
        from streams.worker.otlp_agent import register_otlp
        register_otlp(app, topics, settings, metrics)  # SIGNALS_TOPIC_OTLP, when set
    for extension in extensions:
        extension(app, topics, settings)
    if ingest is not None and (settings.otlp_http_port or settings.otlp_export_endpoint):  # the OTLP/HTTP receiver, the exporter
        from streams.worker.otlp_http import register_otlp_http
        register_otlp_http(app, ingest, settings)
    return app, ingest
