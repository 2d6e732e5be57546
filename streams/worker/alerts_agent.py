"""The alerts agent: the signals topic -> ``streams.alerts.SpikeDetector`` -> the alerts topic, ClickHouse, a webhook.

An extension for ``build_app`` (after ``register_sink``, whose ``WorkerClickHouse`` it writes with).
It reads the signals the ingest agent publishes (each carries its event time, ``SignalRecord.ts``) in
batches; each partition of the signals topic is one source of the detector (its watermark is the
largest event time that partition delivered). A timer marks a partition idle when it has delivered
nothing for ``alert_idle_s`` wall-clock seconds (counted from the first signal the agent sees, so a
worker catching up on a backlog does not call every partition idle before it reads them), so a quiet partition does not hold every window
open; the wall clock decides only *when* windows close, never what they count. Each alert is sent
to the alerts topic (JSON, key ``agent|category|window start``), written to ClickHouse's ``alerts``
table (a window's alert is one row however often it is written) and, with ``alert_webhook`` set,
queued for the webhook (``streams.webhook.Notifier``, on its own task: a webhook that is down
never holds the agent).

The detector's state is in memory: a restarted worker starts its windows (and their warm-up) again
from the offsets it resumes at. Every partition of the signals topic must reach one detector for the
counts to be complete: with several workers, each counts the partitions it owns (docs/alerts.md).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec

from sinks.alerts import alert_row
from streams.alerts import Alert, SpikeDetector, alert_key, encode_alert
from streams.codec import SignalRecord
from streams.settings import Settings
from streams.webhook import Notifier
from streams.worker.sink_agent import WorkerClickHouse
from streams.worker.topics import Topics

log = logging.getLogger("signals.alerts")
_signal_decoder = msgspec.json.Decoder(SignalRecord)
Item = tuple[str, str, float | None]  # agent id, signal type, event time


class Alerting:
    """The detector and where its alerts go (the Faust parts stay in ``register_alerts``)."""

    def __init__(self, settings: Settings, send: Any, clickhouse: WorkerClickHouse | None = None,
                 notifier: Notifier | None = None, clock: Any = time.monotonic) -> None:
        self.settings, self.send, self.clickhouse, self.notifier, self.clock = settings, send, clickhouse, notifier, clock
        self.detector = SpikeDetector(settings.alert_config(), range(settings.partitions),
                                      pipeline_version=settings.pipeline_version)
        self.last_input: dict[int, float] = {}  # wall clock; empty until the first signal arrives
        self.writer = clickhouse.writer(("alerts",), 1000) if clickhouse is not None else None
        self.published: list[Alert] = []  # the last batch's alerts (for tests and logs)

    async def process(self, messages: list[Any]) -> None:
        """One batch of signals-topic messages (objects with partition and value)."""
        now = self.clock()
        if not self.last_input and messages:  # idleness counts from the first signal, not from the start
            self.last_input = dict.fromkeys(range(self.settings.partitions), now)
        by_partition: dict[int, list[Item]] = {}
        for message in messages:
            self.last_input[message.partition] = now
            item = decode_signal(message.value)
            if item is not None:
                by_partition.setdefault(message.partition, []).append(item)
        alerts: list[Alert] = []
        for partition, items in sorted(by_partition.items()):
            alerts += self.detector.observe_batch(partition, items)
        await self.publish(alerts)

    async def tick(self) -> None:
        """Mark the partitions quiet for ``alert_idle_s`` idle (they stop holding the watermark back)."""
        now, alerts = self.clock(), []
        for partition, last in self.last_input.items():
            if now - last >= self.settings.alert_idle_s and partition not in self.detector.idle:
                alerts += self.detector.set_idle(partition)
        await self.publish(alerts)

    async def publish(self, alerts: list[Alert]) -> None:
        self.published = alerts
        if not alerts:
            return
        for alert in alerts:
            log.warning("%s", alert.text)
            await self.send(self.settings.topic_alerts, alert_key(alert), encode_alert(alert))
            if self.notifier is not None:
                self.notifier.submit(alert.text)
        if self.clickhouse is not None and self.writer is not None:
            self.writer.add("alerts", [alert_row(msgspec.to_builtins(alert)) for alert in alerts])
            await self.clickhouse.until_done("alerts", self.writer.flushing())


def decode_signal(value: bytes | None) -> Item | None:
    try:
        record = _signal_decoder.decode(value or b"")
    except msgspec.DecodeError:
        log.error("skipping an undecodable signal record")
        return None
    return record.agent_id, record.type, record.ts


def register_alerts(app: Any, topics: Topics, settings: Settings) -> Alerting | None:
    """The extension: the alerts agent on the signals topic, its idle timer, the webhook task."""
    if not settings.alerts:
        return None
    notifier = None
    if settings.alert_webhook:
        notifier = Notifier(settings.alert_webhook, retries=settings.alert_webhook_retries,
                            timeout_s=settings.alert_webhook_timeout_s)

    async def send(topic: str, key: bytes, value: bytes) -> None:
        await app.producer.send(topic, key, value, None, None, None)

    alerting = Alerting(settings, send, getattr(app, "clickhouse", None), notifier)
    app.alerting = alerting

    @app.agent(topics.signals, name="alerts")
    async def alerts_agent(stream: Any) -> None:
        if alerting.clickhouse is not None and not await alerting.clickhouse.ensure_schema():
            return
        async for batch in stream.take_events(settings.batch_max, within=settings.batch_within_s):
            await alerting.process([event.message for event in batch])

    @app.timer(interval=max(0.5, min(5.0, settings.alert_idle_s / 2)))
    async def quiet_signal_partitions() -> None:
        await alerting.tick()

    if notifier is not None:
        @app.task
        async def deliver_alerts() -> None:
            await notifier.run()

    return alerting
