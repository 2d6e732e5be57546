"""The worker's Kafka topics, all keyed by trajectory id, raw bytes in and out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from streams.settings import Settings


@dataclass(frozen=True)
class Topics:
    events: Any  # input: one event or an envelope of events per message (the codec decides)
    signals: Any  # one JSON signal per message
    trajectories: Any  # the refreshed trajectory record (compacted: last record per id wins)
    dlq: Any  # rejected input, original bytes + x-error-* headers

    def outputs(self) -> tuple[Any, ...]:
        return (self.signals, self.trajectories, self.dlq)


def _raw(app: faust.App, name: str, partitions: int, **config: str) -> Any:
    return app.topic(name, partitions=partitions, key_type=bytes, value_type=bytes,
                     key_serializer="raw", value_serializer="raw", config=config or None)


def build_topics(app: faust.App, settings: Settings) -> Topics:
    parts = settings.partitions
    return Topics(
        events=_raw(app, settings.topic_events, parts),
        signals=_raw(app, settings.topic_signals, parts),
        trajectories=_raw(app, settings.topic_trajectories, parts, **{"cleanup.policy": "compact"}),
        dlq=_raw(app, settings.topic_dlq, parts),
    )


def client_options(settings: Settings) -> dict[str, Any]:
    """aiokafka connection options (bootstrap + security) from the settings."""
    options: dict[str, Any] = {"bootstrap_servers": settings.brokers,
                               "security_protocol": settings.kafka_security_protocol.upper()}
    if "SSL" in options["security_protocol"]:
        from aiokafka.helpers import create_ssl_context
        options["ssl_context"] = create_ssl_context(cafile=settings.kafka_ca_file or None)
    if "SASL" in options["security_protocol"]:
        options.update(sasl_mechanism=settings.kafka_sasl_mechanism or "PLAIN",
                       sasl_plain_username=settings.kafka_username,
                       sasl_plain_password=settings.kafka_password)
    return options


async def ensure_topics(settings: Settings, options: dict[str, Any]) -> list[str]:
    """Create missing topics with the configured partitions BEFORE the worker subscribes (Faust
    ignores a subscribed topic that does not exist at assignment time). Returns the created names."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = {settings.topic_events: {}, settings.topic_signals: {}, settings.topic_dlq: {},
                  settings.topic_trajectories: {"cleanup.policy": "compact"}}
        new = [NewTopic(name, settings.partitions, settings.topic_replication, topic_configs=config)
               for name, config in wanted.items() if name not in existing]
        if new:
            await admin.create_topics(new)
        return [t.name for t in new]
    finally:
        await admin.close()


async def declare(topics: Topics) -> None:
    """Create the output topics (the input topic is created by the agent subscribing to it)."""
    for topic in topics.outputs():
        await topic.maybe_declare()
