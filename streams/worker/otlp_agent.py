"""The OTLP agent: reads ``SIGNALS_TOPIC_OTLP`` beside the events topic and re-produces its
spans as events keyed by trajectory id onto the events topic (``streams.otlp``), where the ingest
agent takes them like any other event. Same guarantees as the ingest agent's outputs: Faust
flushes the producer before it commits the OTLP offsets (at-least-once; the events repeat their
(trajectory_id, seq), so a redelivered record is dropped as duplicates by the session). A record
that cannot be read goes to the dead-letter topic with its original bytes and ``x-error-*`` headers.
"""

from __future__ import annotations

from typing import Any

from streams.codec import dlq_headers
from streams.otlp import OtlpReader
from streams.settings import Settings
from streams.worker.metrics import Metrics
from streams.worker.topics import Topics


class OtlpIngest:
    def __init__(self, app: Any, topics: Topics, settings: Settings, metrics: Metrics) -> None:
        self.app, self.topics, self.metrics = app, topics, metrics
        self.reader = OtlpReader(settings.otlp_encoding, max_bytes=settings.max_event_bytes)

    async def process(self, batch: list[Any]) -> None:
        send, events_topic = self.app.producer.send, self.topics.events.get_topic_name()
        for item in batch:
            message = item.message
            read = self.reader.read(message.value)
            self.metrics.otlp_spans.inc(read.spans)
            self.metrics.otlp_events.inc(read.events)
            for key, value in read.messages:
                await send(events_topic, key, value, None, None, None)
            if read.rejected is not None:
                headers = [*(message.headers or ()),
                           *dlq_headers(read.rejected, message.topic, message.partition, message.offset)]
                await send(self.topics.dlq.get_topic_name(), message.key, message.value, None, None, headers)
                self.metrics.rejected.labels(read.rejected.reason).inc()


def register_otlp(app: Any, topics: Topics, settings: Settings, metrics: Metrics) -> OtlpIngest | None:
    """The agent on ``settings.topic_otlp`` (none when it is empty)."""
    if not settings.topic_otlp:
        return None
    ingest = OtlpIngest(app, topics, settings, metrics)
    topic = app.topic(settings.topic_otlp, partitions=settings.partitions, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")

    @app.agent(topic, name="otlp")
    async def otlp_agent(stream: Any) -> None:
        async for batch in stream.take_events(settings.batch_max, within=settings.batch_within_s):
            await ingest.process(batch)

    return ingest
