"""The worker's OTLP ends (issue 12): the OTLP/HTTP receiver and the signals exporter.

Receiver (``SIGNALS_OTLP_HTTP_PORT``, its own aiohttp site beside Faust's web server):
``POST /v1/traces`` -> ``streams.otlp_http.receive`` -> records on ``SIGNALS_TOPIC_OTLP`` in
``SIGNALS_OTLP_ENCODING``, sent with acks=all by a producer of its own; the answer (200, with a
partial success when spans were rejected) is given only once Kafka acked every record of the
request, so a crash after the answer loses nothing. Backpressure: request bytes being written are
bounded (``SIGNALS_OTLP_MAX_INFLIGHT_BYTES``): past it 429 with Retry-After; Kafka not ready, failing
or slower than ``SIGNALS_OTLP_PRODUCE_TIMEOUT_S``: 503 with Retry-After (the client retries; records
of a request that failed half way may then be on the topic twice: at-least-once).

Exporter (``SIGNALS_OTLP_EXPORT_ENDPOINT``): each FINAL record the ingest agent publishes is put on
a bounded queue (full: dropped, counted) and sent, in batches, as spans built by
``streams.otlp_http.export.signals_span``, by a task of its own with retries and backoff; the ingest
agent never waits for it. The trace of a trajectory comes from its events' OTel ids, remembered
per trajectory (bounded LRU, in memory: after a restart or rebalance a trajectory whose earlier
events were seen elsewhere gets the derived trace id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from typing import Any, Final, Protocol

import aiohttp
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from detectors.model import TrajectoryReport
from streams.otlp_http.export import TraceContext, context_of, export_request, signals_span
from streams.otlp_http.receive import (
    JSON,
    Record,
    RequestError,
    inflate,
    media_type,
    parse,
    records_of,
    response_body,
    status_body,
)
from streams.settings import Settings
from streams.worker.metrics import Metrics

log = logging.getLogger("signals.otlp")
ROUTE: Final = "/v1/traces"
RECORD_HEADROOM: Final = 4096  # a record's value stays this far below SIGNALS_MAX_EVENT_BYTES
RETRY_AFTER_BUSY_S: Final = 1  # 429: in-flight bytes at the bound
RETRY_AFTER_UNAVAILABLE_S: Final = 5  # 503: Kafka not ready or not acking
GRPC_CODES: Final = {400: 3, 413: 3, 415: 3, 429: 8, 503: 14}  # INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE
EXPORT_BATCH: Final = 256
EXPORT_BACKOFF_S, EXPORT_MAX_BACKOFF_S = 0.5, 30.0
RETRYABLE: Final = frozenset({429, 502, 503, 504})
MAX_CONTEXTS: Final = 100_000


class RecordWriter(Protocol):
    ready: bool

    async def write(self, records: list[Record]) -> None: ...


class KafkaWriter:
    """The receiver's own producer (acks=all, idempotent) to the OTLP topic."""

    def __init__(self, settings: Settings, max_record_bytes: int) -> None:
        from streams.kafka import durable_producer_options
        self.topic, self.ready = settings.topic_otlp, False
        self.options = durable_producer_options(settings, max_record_bytes)
        self.producer: Any = None

    async def start(self, retry_s: float = 2.0) -> None:
        """Connect, retrying while Kafka cannot be reached (the receiver answers 503 meanwhile)."""
        from aiokafka import AIOKafkaProducer
        while True:
            producer = AIOKafkaProducer(**self.options)  # made on the running loop
            try:
                await producer.start()
            except Exception as error:
                await producer.stop()
                log.warning("OTLP receiver: Kafka not reachable yet (%s), retrying in %.0fs", error, retry_s)
                await asyncio.sleep(retry_s)
                continue
            self.producer, self.ready = producer, True
            return

    async def write(self, records: list[Record]) -> None:
        sends = [await self.producer.send(self.topic, record.value, key=record.key) for record in records]
        await asyncio.gather(*sends)

    async def stop(self) -> None:
        self.ready = False
        if self.producer is not None:
            await self.producer.stop()


class Receiver:
    def __init__(self, settings: Settings, writer: RecordWriter, metrics: Metrics) -> None:
        self.settings, self.writer, self.metrics = settings, writer, metrics
        self.encoding = settings.otlp_encoding
        self.max_record_bytes = max(1024, settings.max_event_bytes - RECORD_HEADROOM)
        self.inflight = 0
        self.runner: web.AppRunner | None = None
        self.port = settings.otlp_http_port

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.otlp_max_request_bytes)
        app.router.add_post(ROUTE, self.handle)
        return app

    async def start(self) -> None:
        # auto_decompress off: gzip is inflated by streams.otlp_http.receive.inflate, bounded (no gzip bombs)
        # shutdown_timeout: requests in hand get a few seconds at a stop (the worker's stop is bounded)
        self.runner = web.AppRunner(self.application(), access_log=None, auto_decompress=False,
                                    shutdown_timeout=min(5.0, self.settings.shutdown_timeout_s / 4))
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.settings.otlp_http_host, self.settings.otlp_http_port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []  # the bound port when 0 was asked (tests)
        self.port = sockets[0].getsockname()[1] if sockets else self.port

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def handle(self, request: web.Request) -> web.Response:
        try:
            media = media_type(request.headers.get("Content-Type"))
        except RequestError as error:
            return self.answer(JSON, error.status, error.message)
        if self.inflight >= self.settings.otlp_max_inflight_bytes:
            return self.answer(media, 429, "too many request bytes in flight", RETRY_AFTER_BUSY_S)
        try:
            raw = await request.read()
            body = inflate(raw, request.headers.get("Content-Encoding"), self.settings.otlp_max_request_bytes)
        except web.HTTPRequestEntityTooLarge:
            return self.answer(media, 413, f"request body is larger than {self.settings.otlp_max_request_bytes} bytes")
        except RequestError as error:
            return self.answer(media, error.status, error.message)
        size = len(raw) + len(body)
        if self.inflight and self.inflight + size > self.settings.otlp_max_inflight_bytes:
            return self.answer(media, 429, "too many request bytes in flight", RETRY_AFTER_BUSY_S)
        self.hold(size)
        try:
            return await self.accept(media, body)
        finally:
            self.hold(-size)

    def hold(self, size: int) -> None:
        self.inflight += size
        self.metrics.otlp_http_inflight.set(self.inflight)

    async def accept(self, media: str, body: bytes) -> web.Response:
        try:
            accepted = records_of(parse(body, media), self.encoding, self.max_record_bytes)
        except RequestError as error:
            return self.answer(media, error.status, error.message)
        if accepted.records:
            if not self.writer.ready:
                return self.answer(media, 503, "Kafka is not ready", RETRY_AFTER_UNAVAILABLE_S)
            try:
                await asyncio.wait_for(self.writer.write(accepted.records), self.settings.otlp_produce_timeout_s)
            except Exception as error:  # Kafka down, too slow, or refusing: the client retries
                log.warning("OTLP receiver: Kafka did not ack a request's records: %r", error)
                return self.answer(media, 503, f"Kafka did not acknowledge the spans: {error!r}"[:300],
                                   RETRY_AFTER_UNAVAILABLE_S)
        self.metrics.otlp_http_spans.labels("accepted").inc(accepted.spans)
        self.metrics.otlp_http_spans.labels("rejected").inc(accepted.rejected)
        self.metrics.otlp_http_requests.labels("200").inc()
        return web.Response(status=200, body=response_body(media, accepted.rejected, accepted.message()),
                            content_type=media)

    def answer(self, media: str, status: int, message: str, retry_after: int | None = None) -> web.Response:
        self.metrics.otlp_http_requests.labels(str(status)).inc()
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return web.Response(status=status, body=status_body(media, GRPC_CODES.get(status, 2), message),
                            content_type=media, headers=headers)


# ------------------------------------------------------------------------------------ exporter

class Exporter:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.endpoint, self.metrics = settings.otlp_export_endpoint, metrics
        self.timeout_s, self.retries = settings.otlp_export_timeout_s, settings.otlp_export_retries
        self.version = settings.pipeline_version
        self.queue: asyncio.Queue[tuple[TrajectoryReport, TraceContext | None]] = asyncio.Queue(
            max(1, settings.otlp_export_queue))
        self.contexts: OrderedDict[str, TraceContext] = OrderedDict()

    def listen(self, update: Any, report: TrajectoryReport) -> None:
        """Ingest's listener: learn the trajectory's trace, queue its final record (never waits)."""
        self.observe(report.id, update.events)
        if report.final:
            self.offer(report)

    def observe(self, trajectory_id: str, events: list[Any]) -> None:
        context = context_of(events)
        if context is not None:
            self.contexts[trajectory_id] = context
            self.contexts.move_to_end(trajectory_id)
            if len(self.contexts) > MAX_CONTEXTS:
                self.contexts.popitem(last=False)

    def offer(self, report: TrajectoryReport) -> None:
        try:
            self.queue.put_nowait((report, self.contexts.get(report.id)))
        except asyncio.QueueFull:
            self.metrics.otlp_export.labels("dropped").inc()
        self.metrics.otlp_export_queue.set(self.queue.qsize())

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as session:
            while True:
                batch = [await self.queue.get()]
                while len(batch) < EXPORT_BATCH and not self.queue.empty():
                    batch.append(self.queue.get_nowait())
                self.metrics.otlp_export_queue.set(self.queue.qsize())
                now = time.time_ns()
                spans = [signals_span(report, context, now) for report, context in batch]
                body = export_request(spans, self.version).SerializeToString()
                await self.send(session, body, len(spans))

    async def send(self, session: aiohttp.ClientSession, body: bytes, count: int) -> None:
        delay = EXPORT_BACKOFF_S
        for attempt in range(self.retries + 1):
            wait = delay
            try:
                async with session.post(self.endpoint, data=body,
                                        headers={"Content-Type": "application/x-protobuf"}) as response:
                    payload = await response.read()
                    if 200 <= response.status < 300:
                        self.sent(payload, count)
                        return
                    if response.status not in RETRYABLE:
                        log.warning("OTLP exporter: %s answered %d; %d spans dropped", self.endpoint,
                                    response.status, count)
                        break
                    wait = retry_after(response.headers.get("Retry-After"), delay)
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                log.warning("OTLP exporter: %s failed (%r), attempt %d", self.endpoint, error, attempt + 1)
            if attempt < self.retries:
                await asyncio.sleep(wait)
                delay = min(EXPORT_MAX_BACKOFF_S, delay * 2)
        self.metrics.otlp_export.labels("failed").inc(count)

    def sent(self, payload: bytes, count: int) -> None:
        rejected = 0
        with contextlib.suppress(Exception):  # an endpoint answering junk with a 2xx: all taken as sent
            response = ExportTraceServiceResponse()
            response.ParseFromString(payload)
            rejected = min(count, response.partial_success.rejected_spans)
        self.metrics.otlp_export.labels("sent").inc(count - rejected)
        if rejected:
            self.metrics.otlp_export.labels("rejected").inc(rejected)


def retry_after(header: str | None, default: float) -> float:
    try:
        return min(EXPORT_MAX_BACKOFF_S, max(0.0, float(header))) if header else default
    except ValueError:
        return default


# ------------------------------------------------------------------------------------ wiring

def register_otlp_http(app: Any, ingest: Any, settings: Settings) -> None:
    """The receiver and/or the exporter, started with the app and stopped before it shuts down."""
    tasks: list[asyncio.Task[Any]] = []
    receiver: Receiver | None = None
    writer: KafkaWriter | None = None
    exporter = Exporter(settings, ingest.metrics) if settings.otlp_export_endpoint else None
    if exporter is not None:
        ingest.listeners.append(exporter.listen)

    @app.task
    async def start_otlp() -> None:
        nonlocal receiver, writer
        if settings.otlp_http_port:
            writer = KafkaWriter(settings, max(1024, settings.max_event_bytes - RECORD_HEADROOM))
            receiver = Receiver(settings, writer, ingest.metrics)
            await receiver.start()
            tasks.append(asyncio.create_task(writer.start()))
        if exporter is not None:
            tasks.append(asyncio.create_task(exporter.run()))

    @app.on_before_shutdown.connect
    async def stop_otlp(app: Any, **kwargs: Any) -> None:
        if receiver is not None:
            await receiver.stop()  # no new requests; the ones in hand were answered
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if writer is not None:
            with contextlib.suppress(Exception):
                await writer.stop()
