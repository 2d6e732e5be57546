"""The signals exporter against a local OTLP/HTTP endpoint written here (it decodes
ExportTraceServiceRequest), one that fails then recovers, one that is down, and a worker whose
endpoint is down (records still flow; the drops and failures are counted)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from detectors.model import Signal, TrajectoryReport, UserMessage
from streams.settings import Settings
from streams.worker.metrics import Metrics
from streams.worker.otlp_http import Exporter
from tests.support.faults import synthetic
from tests.support.kafka import free_port

pytestmark = pytest.mark.integration
TRACE, PARENT = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


class Endpoint:
    """An OTLP/HTTP traces endpoint on its own loop and thread: keeps the decoded requests; answers
    503 (Retry-After: 0) to the first ``failures`` requests."""

    def __init__(self, failures: int = 0) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.content_types: list[str] = []
        self.failures = failures
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self.start(), self.loop).result(30)
        self.url = f"http://127.0.0.1:{self.port}/v1/traces"

    async def start(self) -> int:
        app = web.Application()
        app.router.add_post("/v1/traces", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    async def handle(self, request: web.Request) -> web.Response:
        if self.failures > 0:
            self.failures -= 1
            return web.Response(status=503, headers={"Retry-After": "0"})
        self.content_types.append(request.headers["Content-Type"])
        self.requests.append(ExportTraceServiceRequest.FromString(await request.read()))
        return web.Response(body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf")

    def spans(self) -> list[Any]:
        return [s for r in self.requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    made = Endpoint(failures=1)
    yield made
    made.close()


def report(tid: str) -> TrajectoryReport:
    return TrajectoryReport(id=tid, quality="poor", quality_score=40.0, triage_score=0.7, final=True,
                            counts={"execution.failure.bad_query": 1},
                            signals=[Signal(type="execution.failure.bad_query", index=2)])


class Update:  # what the ingest agent hands its listeners: the events applied in the step
    def __init__(self, events: list[Any]) -> None:
        self.events = events


def value(held: Any) -> Any:
    return getattr(held, held.WhichOneof("value"))


def run_until(exporter: Exporter, done: Any, timeout: float = 30.0) -> None:
    async def main() -> None:
        task = asyncio.create_task(exporter.run())
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    asyncio.run(main())


def settings_for(url: str, **more: Any) -> Settings:
    return Settings.from_env({"otlp_export_endpoint": url, "pipeline_version": "it-9", **more}, env={})


def test_final_records_arrive_as_spans_with_planos_names(endpoint: Endpoint) -> None:
    metrics = Metrics()

    async def offer_then_run() -> Exporter:
        exporter = Exporter(settings_for(endpoint.url), metrics)
        otel = [UserMessage(trajectory_id="conv-otel", seq=0, attributes={"otel_trace_id": TRACE,
                                                                           "otel_span_id": PARENT})]
        exporter.listen(Update(otel), TrajectoryReport(**{**_fields(report("conv-otel")), "final": False}))
        exporter.listen(Update([]), report("conv-otel"))  # final: in the trace its events named
        exporter.listen(Update([]), report("conv-file"))  # no OTel ids: the derived trace
        exporter.listen(Update([]), TrajectoryReport(**{**_fields(report("not-final")), "final": False}))
        return exporter

    exporter = asyncio.run(offer_then_run())
    run_until(exporter, lambda: len(endpoint.spans()) >= 2)
    spans = {value(a.value): s for s in endpoint.spans() for a in s.attributes if a.key == "signals.trajectory_id"}
    assert sorted(spans) == ["conv-file", "conv-otel"]
    otel = spans["conv-otel"]
    assert (otel.trace_id.hex(), otel.parent_span_id.hex()) == (TRACE, PARENT)
    assert spans["conv-file"].parent_span_id == b"" and spans["conv-file"].trace_id.hex() != TRACE
    attributes = {a.key: value(a.value) for a in otel.attributes}
    assert {k: attributes[k] for k in ("signals.quality", "signals.quality_score", "signals.triage_score",
                                       "signals.execution.failure.count", "signals.execution.failure.severity")} == {
        "signals.quality": "poor", "signals.quality_score": 40.0, "signals.triage_score": 0.7,
        "signals.execution.failure.count": 1, "signals.execution.failure.severity": 1}
    names = [e.name for e in otel.events]
    assert names == ["signal.execution.failure.bad_query"] + ["gen_ai.evaluation.result"] * 3
    resource = endpoint.requests[0].resource_spans[0].resource
    assert {a.key: value(a.value) for a in resource.attributes} == {"service.name": "agent-signals",
                                                                    "service.version": "it-9"}
    assert endpoint.content_types[0] == "application/x-protobuf"
    assert metrics.otlp_export.labels("sent")._value.get() == 2  # after one 503: retried
    assert metrics.otlp_export.labels("failed")._value.get() == 0


def _fields(made: TrajectoryReport) -> dict[str, Any]:
    return {name: getattr(made, name) for name in made.__struct_fields__}


def closed_port() -> int:
    port = free_port()
    with socket.socket() as probe:  # nothing listens there
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return port


def test_a_dead_endpoint_never_blocks_and_every_loss_is_counted() -> None:
    metrics = Metrics()
    url = f"http://127.0.0.1:{closed_port()}/v1/traces"

    async def offer() -> Exporter:
        exporter = Exporter(settings_for(url, otlp_export_queue=3, otlp_export_retries=1), metrics)
        for n in range(10):
            exporter.offer(report(f"t{n}"))  # returns at once: the queue holds 3, 7 are dropped
        return exporter

    exporter = asyncio.run(offer())
    assert metrics.otlp_export.labels("dropped")._value.get() == 7
    run_until(exporter, lambda: metrics.otlp_export.labels("failed")._value.get() >= 3)
    assert metrics.otlp_export.labels("failed")._value.get() == 3
    assert metrics.otlp_export.labels("sent")._value.get() == 0


def test_worker_keeps_going_with_a_dead_endpoint(kafka_url: str, stream_names: dict[str, str], start_worker: Any,
                                                 tmp_path: Path) -> None:
    from streams.cli.commands.produce import produce
    from tests.support.kafka import final_records, read_topic
    metrics_port = free_port()
    worker = start_worker(f"--otlp-export-endpoint=http://127.0.0.1:{closed_port()}/v1/traces",
                          "--otlp-export-queue=2", "--otlp-export-retries=1", f"--metrics-port={metrics_port}",
                          "--sink=false")
    trajectories = synthetic(12, prefix="exp")
    asyncio.run(produce(Settings.from_env({"kafka": kafka_url, "topic_events": stream_names["topic_events"]}),
                        trajectories, batch=1))
    messages = read_topic(kafka_url, stream_names["topic_trajectories"],
                          until=lambda ms: len(final_records(ms)) >= len(trajectories))
    assert len(final_records(messages)) == len(trajectories) and worker.poll() is None
    deadline, lost = time.monotonic() + 60, 0.0
    while time.monotonic() < deadline:
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
        lost = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("signals_otlp_export_spans_total{outcome=") and "sent" not in line)
        if lost >= len(trajectories):
            break
        time.sleep(0.5)
    assert lost >= len(trajectories)  # every final record is dropped or failed, none blocked the worker
