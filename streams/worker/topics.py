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
    alerts: Any = None  # spike alerts (streams/alerts.py), keyed by agent|category|window start

    def outputs(self) -> tuple[Any, ...]:
        return tuple(t for t in (self.signals, self.trajectories, self.dlq, self.alerts) if t is not None)


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
        alerts=_raw(app, settings.topic_alerts, parts),
    )


async def declare(topics: Topics) -> None:
    """Create the output topics (the input topic is created by the agent subscribing to it)."""
    for topic in topics.outputs():
        await topic.maybe_declare()
