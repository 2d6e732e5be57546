"""Kafka connection options and creation of the pipeline's topics (aiokafka only, no Faust).

Shared by every program that talks to Kafka: the worker, replay, `signals produce`, benches and tests.
"""

from __future__ import annotations

from typing import Any

from streams.settings import Settings


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


def durable_producer_options(settings: Settings, max_record_bytes: int) -> dict[str, Any]:
    """A producer whose acknowledged sends are on every in-sync replica (acks=all, idempotent):
    the OTLP receiver answers a request only after these acks."""
    return {**client_options(settings), "acks": "all", "enable_idempotence": True, "linger_ms": 2,
            "max_request_size": max_record_bytes + 64 * 1024,
            "request_timeout_ms": max(1000, int(settings.otlp_produce_timeout_s * 1000))}


async def ensure_topics(settings: Settings, options: dict[str, Any]) -> list[str]:
    """Create missing topics with the configured partitions BEFORE the worker subscribes (Faust
    ignores a subscribed topic that does not exist at assignment time). Returns the created names."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = {settings.topic_events: {}, settings.topic_signals: {}, settings.topic_dlq: {},
                  settings.topic_alerts: {}, settings.topic_trajectories: {"cleanup.policy": "compact"},
                  **({settings.topic_otlp: {}} if settings.topic_otlp else {})}
        new = [NewTopic(name, settings.partitions, settings.topic_replication, topic_configs=config)
               for name, config in wanted.items() if name not in existing]
        if new:
            await admin.create_topics(new)
        return [t.name for t in new]
    finally:
        await admin.close()


async def wait_group_stable(settings: Settings, group: str, timeout_s: float) -> bool:
    """Wait until consumer group ``group`` is Stable with at least one member (its partitions are
    assigned); False after ``timeout_s``. What a caller waits for before timing a worker's work."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            [response] = await admin.describe_consumer_groups([group])
            _error, _id, state, _protocol_type, _protocol, members = response.groups[0][:6]
            if state == "Stable" and members:
                return True
            await asyncio.sleep(0.2)
        return False
    finally:
        await admin.close()
