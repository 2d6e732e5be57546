"""Where replayed records go: ClickHouse (``sinks.writer.Writer``), the output topics, the DLQ.

Outputs are fed synchronously by ``streams.replay.Replayer``; ``commit()`` makes everything handed
over so far durable (the runner calls it before each checkpoint and at the end).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from detectors.model import Event, TrajectoryReport
from sinks.alerts import alert_row
from sinks.writer import Writer
from streams.alerts import Alert, alert_key, encode_alert
from streams.codec import Rejected, dlq_headers, encode_report, encode_signal
from streams.kafka import client_options
from streams.settings import Settings

CHUNK = 1000  # reports handed to the writer at a time


class ClickHouseOutput:
    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.reports: list[TrajectoryReport] = []
        self.events: list[Event] = []

    def emit(self, report: TrajectoryReport, events: list[Event]) -> None:
        self.reports.append(report)
        self.events += events
        if len(self.reports) >= CHUNK:
            self._hand_over()

    def reject(self, partition: int, offset: int, key: bytes | None, value: bytes | None,
               rejected: Rejected) -> None:
        pass  # counted by the replayer; --dlq adds a DlqOutput

    def _hand_over(self) -> None:
        self.writer.write_reports(self.reports)  # records and events written apart, as the worker does
        self.writer.write_events(self.events)
        self.reports, self.events = [], []

    async def commit(self) -> None:
        self._hand_over()
        self.writer.flush()

    def emit_alerts(self, alerts: list[Alert]) -> None:
        self.writer.add("alerts", [alert_row(msgspec.to_builtins(alert)) for alert in alerts])


class Publisher:
    """Buffered aiokafka sends; ``commit`` waits for every delivery."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pending: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]] | None]] = []
        self.producer: Any = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer
        self.producer = AIOKafkaProducer(linger_ms=10, max_batch_size=256 * 1024, **client_options(self.settings))
        await self.producer.start()

    async def commit(self) -> None:
        pending, self.pending = self.pending, []
        deliveries = [await self.producer.send(topic, value, key=key, headers=headers)
                      for topic, key, value, headers in pending]
        await asyncio.gather(*deliveries)

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()


class TopicOutput(Publisher):
    """Records (and their signals) to the trajectories/signals topics, encoded as the worker does."""

    def emit(self, report: TrajectoryReport, events: list[Event]) -> None:
        key, settings = report.id.encode(), self.settings
        for signal in report.signals:
            value = encode_signal(report.id, signal, pipeline_version=report.pipeline_version,
                                  agent_id=report.agent_id)
            self.pending.append((settings.topic_signals, key, value, None))
        self.pending.append((settings.topic_trajectories, key, encode_report(report), None))

    def reject(self, partition: int, offset: int, key: bytes | None, value: bytes | None,
               rejected: Rejected) -> None:
        pass

    def emit_alerts(self, alerts: list[Alert]) -> None:
        self.pending += [(self.settings.topic_alerts, alert_key(a), encode_alert(a), None) for a in alerts]


class DlqOutput(Publisher):
    """Rejected input (original bytes + the worker's ``x-error-*`` headers) to the DLQ topic."""

    def emit(self, report: TrajectoryReport, events: list[Event]) -> None:
        pass

    def reject(self, partition: int, offset: int, key: bytes | None, value: bytes | None,
               rejected: Rejected) -> None:
        headers = [*dlq_headers(rejected, self.settings.topic_events, partition, offset), ("x-replay", b"1")]
        self.pending.append((self.settings.topic_dlq, key, value, headers))

    def emit_alerts(self, alerts: list[Alert]) -> None:
        pass


class Tee:
    """Several outputs as one."""

    def __init__(self, *outputs: Any) -> None:
        self.outputs = outputs

    def emit(self, report: TrajectoryReport, events: list[Event]) -> None:
        for output in self.outputs:
            output.emit(report, events)

    def reject(self, partition: int, offset: int, key: bytes | None, value: bytes | None,
               rejected: Rejected) -> None:
        for output in self.outputs:
            output.reject(partition, offset, key, value, rejected)

    def emit_alerts(self, alerts: list[Alert]) -> None:
        for output in self.outputs:
            output.emit_alerts(alerts)

    async def commit(self) -> None:
        for output in self.outputs:
            await output.commit()
