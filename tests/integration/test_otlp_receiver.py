"""The OTLP/HTTP receiver against the real broker: the official SDK's OTLPSpanExporter pointed at
it, OTLP/JSON with hex ids, gzip, 415/400, backpressure (429/503 with Retry-After), and the record
on Kafka before the 200 (a worker killed right after its answer)."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from streams.otlp_http.receive import Record
from streams.settings import Settings
from streams.worker.metrics import Metrics
from streams.worker.otlp_http import KafkaWriter, Receiver
from tests.support.kafka import REPO, free_port, read_topic
from tests.support.worker import worker_argv

pytestmark = pytest.mark.integration
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


class Running:
    """A receiver (and its writer) on an event loop of its own, in a thread."""

    def __init__(self, settings: Settings, writer: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.writer, self.metrics = writer, Metrics()
        self.receiver = Receiver(settings, writer, self.metrics)
        self.call(self.receiver.start())
        self.url = f"http://127.0.0.1:{self.receiver.port}/v1/traces"

    def call(self, coroutine: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.call(self.receiver.stop())
        if hasattr(self.writer, "stop"):
            self.call(self.writer.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def settings_for(kafka: str, **more: Any) -> Settings:
    return Settings.from_env({"kafka": kafka, "topic_otlp": f"it-otlp-{uuid.uuid4().hex[:10]}", **more}, env={})


@pytest.fixture
def receiver(kafka_url: str) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(writer: Any = None, **more: Any) -> Running:
        settings = settings_for(kafka_url, **more)
        if writer is None:
            writer = KafkaWriter(settings, settings.max_event_bytes - 4096)  # started below, on the loop
        running = Running(settings, writer)
        running.settings = settings  # type: ignore[attr-defined]
        if isinstance(writer, KafkaWriter):
            running.call(writer.start())
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()


def post(url: str, body: bytes, content_type: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type, **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def topic_spans(kafka: str, topic: str, count: int, encoding: str = "otlp_proto") -> tuple[list[Any], list[Any]]:
    """(records, spans in them) once ``count`` spans are on the topic."""
    def spans_of(messages: list[Any]) -> list[Any]:
        out = []
        for message in messages:
            request = (ExportTraceServiceRequest.FromString(message.value) if encoding == "otlp_proto"
                       else json.loads(message.value))
            if encoding == "otlp_proto":
                out += [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
            else:
                out += [s for rs in request["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
        return out
    messages = read_topic(kafka, topic, until=lambda ms: len(spans_of(ms)) >= count, timeout=60)
    return messages, spans_of(messages)


def sdk_spans(exporter: Any, count: int = 5) -> list[Any]:
    """``count`` spans of one agent run, exported by the SDK to ``exporter`` (and kept in memory)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "weather-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("it")
    with tracer.start_as_current_span("invoke_agent weather") as root:
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        for n in range(count - 1):
            with tracer.start_as_current_span(f"chat gpt-4o #{n}") as span:
                span.set_attribute("gen_ai.usage.input_tokens", 47 + n)
                span.set_attribute("gen_ai.input.messages", json.dumps([{"role": "user", "parts": [
                    {"type": "text", "content": f"weather {n}?"}]}]))
    provider.shutdown()
    spans = memory.get_finished_spans()
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    return list(spans)


def test_sdk_exporter_spans_are_on_the_topic_as_sent(kafka_url: str, receiver: Callable[..., Running]) -> None:
    running = receiver()
    exporter = OTLPSpanExporter(endpoint=running.url, compression=Compression.Gzip)  # gzip bodies
    sent = sdk_spans(exporter)
    exporter.shutdown()
    want = encode_spans(sent)  # what the SDK put on the wire
    records, got = topic_spans(kafka_url, running.settings.topic_otlp, len(sent))  # type: ignore[attr-defined]
    by_id = {s.span_id: s for rs in want.resource_spans for ss in rs.scope_spans for s in ss.spans}
    assert sorted(s.span_id for s in got) == sorted(by_id)
    assert all(s == by_id[s.span_id] for s in got)
    first = ExportTraceServiceRequest.FromString(records[0].value)
    assert first.resource_spans[0].resource == want.resource_spans[0].resource
    assert {r.key for r in records} == {sent[0].context.trace_id.to_bytes(16, "big").hex().encode()}
    assert running.metrics.otlp_http_spans.labels("accepted")._value.get() == len(sent)


def test_json_with_hex_ids_onto_a_json_topic(kafka_url: str, receiver: Callable[..., Running]) -> None:
    running = receiver(otlp_encoding="otlp_json")
    spans = [{"traceId": TRACE, "spanId": "00f067aa0ba902b7", "parentSpanId": "a1b2c3d4e5f60718", "name": "chat",
              "kind": 3, "startTimeUnixNano": "1760000000000000000",
              "attributes": [{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "47"}}]},
             {"traceId": "", "spanId": "00f067aa0ba902b8", "name": "no trace id"}]
    body = json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "s"}, "spans": spans}]}]})
    status, headers, answer = post(running.url, gzip.compress(body.encode()), "application/json",
                                   **{"Content-Encoding": "gzip"})
    assert (status, headers["Content-Type"].split(";")[0]) == (200, "application/json")
    assert json.loads(answer)["partialSuccess"]["rejectedSpans"] == "1"
    records, got = topic_spans(kafka_url, running.settings.topic_otlp, 1, "otlp_json")  # type: ignore[attr-defined]
    assert got == [spans[0]] and records[0].key == TRACE.encode()


def test_bad_requests(receiver: Callable[..., Running]) -> None:
    running = receiver()
    status, _, body = post(running.url, b"{}", "text/plain")
    assert status == 415
    assert post(running.url, b"abc", "application/x-protobuf", **{"Content-Encoding": "br"})[0] == 415
    status, headers, body = post(running.url, b"\xff\xff\xff\xff", "application/x-protobuf")
    assert status == 400 and headers["Content-Type"].startswith("application/x-protobuf") and body[:2] == b"\x08\x03"
    assert post(running.url, b"{oops", "application/json")[0] == 400
    assert post(running.url, b"not gzip", "application/json", **{"Content-Encoding": "gzip"})[0] == 400
    empty = ExportTraceServiceRequest().SerializeToString()
    assert post(running.url, empty, "application/x-protobuf")[:1] == (200,)


class GatedWriter:
    """Holds every write until ``gate`` is set (a slow Kafka), or fails it (a broken one)."""

    def __init__(self, fail: bool = False) -> None:
        self.ready, self.fail, self.gate, self.records = True, fail, threading.Event(), []  # type: ignore[var-annotated]

    async def write(self, records: list[Record]) -> None:
        if self.fail:
            raise ConnectionError("broker gone")
        while not self.gate.is_set():
            await asyncio.sleep(0.01)
        self.records += records


def one_span_body(n: int) -> bytes:
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(
        trace_id=bytes.fromhex(TRACE), span_id=(n + 1).to_bytes(8, "big"), name="x" * 200)
    return request.SerializeToString()


def test_backpressure_429_then_accepted(receiver: Callable[..., Running]) -> None:
    writer = GatedWriter()
    running = receiver(writer, otlp_max_request_bytes=600, otlp_max_inflight_bytes=600, otlp_produce_timeout_s=60)
    held: list[Any] = []
    first = threading.Thread(target=lambda: held.append(post(running.url, one_span_body(0), "application/x-protobuf")))
    first.start()
    deadline = time.monotonic() + 30
    while running.receiver.inflight == 0 and time.monotonic() < deadline:  # the first request is in flight
        time.sleep(0.01)
    status, headers, _ = post(running.url, one_span_body(1), "application/x-protobuf")
    assert (status, headers.get("Retry-After")) == (429, "1")
    writer.gate.set()
    first.join(timeout=30)
    assert held[0][0] == 200 and [r.spans for r in writer.records] == [1]
    assert post(running.url, one_span_body(2), "application/x-protobuf")[0] == 200  # room again
    assert running.receiver.inflight == 0


def test_kafka_failing_or_not_ready_is_503_with_retry_after(receiver: Callable[..., Running]) -> None:
    running = receiver(GatedWriter(fail=True))
    status, headers, _ = post(running.url, one_span_body(0), "application/x-protobuf")
    assert (status, headers.get("Retry-After")) == (503, "5")
    not_ready = GatedWriter()
    not_ready.ready = False
    second = receiver(not_ready)
    status, headers, _ = post(second.url, one_span_body(0), "application/x-protobuf")
    assert (status, headers.get("Retry-After")) == (503, "5")


def test_record_is_on_kafka_before_the_answer(kafka_url: str, stream_names: dict[str, str], tmp_path: Path) -> None:
    """The worker's receiver answers 200; the worker is killed at once (SIGKILL); the spans are on the topic."""
    port, topic = free_port(), f"it-otlp-{uuid.uuid4().hex[:10]}"
    with open(tmp_path / "worker.log", "wb") as log:
        proc = subprocess.Popen(worker_argv(kafka_url, stream_names, tmp_path / "data", f"--otlp-http-port={port}",
                                            f"--topic-otlp={topic}", "--sink=false"),
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        url, status, deadline = f"http://127.0.0.1:{port}/v1/traces", 0, time.monotonic() + 90
        empty = ExportTraceServiceRequest().SerializeToString()
        while status != 200 and time.monotonic() < deadline:  # up, its producer connected: an empty request passes
            assert proc.poll() is None, (tmp_path / "worker.log").read_text()
            try:
                status = post(url, empty, "application/x-protobuf")[0]
            except OSError:
                time.sleep(0.2)
        assert status == 200
        status = 0
        while status != 200 and time.monotonic() < deadline:  # 503 until the producer is up
            status = post(url, one_span_body(7), "application/x-protobuf")[0]
        proc.kill()
        assert status == 200
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    _, got = topic_spans(kafka_url, topic, 1)
    assert [s.span_id for s in got] == [(8).to_bytes(8, "big")]
