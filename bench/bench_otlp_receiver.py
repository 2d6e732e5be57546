"""OTLP/HTTP receiver benchmark (not a test; prints figures): requests/s and spans/s of
``POST /v1/traces`` through ``streams.worker.otlp_http.Receiver``, answered only after Kafka acked
(acks=all) every record, against a real broker; and the same with a writer that drops the records
(the receiver's own cost, without Kafka), as a ratio.

    .venv/bin/python bench/bench_otlp_receiver.py --kafka kafka://127.0.0.1:9092 [--requests 2000]
        [--spans 50] [--concurrency 8]

Client and receiver share one process and one event loop (one core); each request holds
``--spans`` spans of ~10 traces (GenAI-like attributes, ~600 bytes a span).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import sys
import time
import uuid
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from streams.otlp_http.receive import Record, to_json
from streams.settings import Settings
from streams.worker.metrics import Metrics
from streams.worker.otlp_http import KafkaWriter, Receiver


def request_of(n: int, spans: int) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="bench")))
    scope = resource_spans.scope_spans.add()
    messages = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "weather in Paris? " * 12}]}])
    for i in range(spans):
        span = scope.spans.add(trace_id=(n * 16 + i % 10 + 1).to_bytes(16, "big"), span_id=(n * spans + i + 1).to_bytes(8, "big"),
                               name="chat gpt-4o", kind=3, start_time_unix_nano=1_760_000_000_000_000_000 + i)
        span.attributes.extend([KeyValue(key="gen_ai.operation.name", value=AnyValue(string_value="chat")),
                                KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=47)),
                                KeyValue(key="gen_ai.input.messages", value=AnyValue(string_value=messages))])
    return request


class NullWriter:
    ready = True

    async def write(self, records: list[Record]) -> None:
        return None


async def run(settings: Settings, writer: object, bodies: list[bytes], content_type: str, gzipped: bool,
              concurrency: int) -> float:
    receiver = Receiver(settings, writer, Metrics())  # type: ignore[arg-type]
    await receiver.start()
    url = f"http://127.0.0.1:{receiver.port}/v1/traces"
    headers = {"Content-Type": content_type, **({"Content-Encoding": "gzip"} if gzipped else {})}
    queue = list(range(len(bodies)))
    codes: dict[int, int] = {}

    async def client(session: aiohttp.ClientSession) -> None:
        while queue:
            body = bodies[queue.pop()]
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                codes[response.status] = codes.get(response.status, 0) + 1

    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await receiver.stop()
    assert codes == {200: len(bodies)}, codes
    return elapsed


async def create_topic(settings: Settings) -> None:
    """The topic first (as the worker does), so no figure includes its auto-creation."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from streams.kafka import client_options
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(settings.topic_otlp, settings.partitions, 1)])
    finally:
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kafka", default="kafka://127.0.0.1:9092")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--spans", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    requests = [request_of(n, args.spans) for n in range(args.requests)]
    cases = {
        "protobuf": ("application/x-protobuf", False, [r.SerializeToString() for r in requests]),
        "protobuf+gzip": ("application/x-protobuf", True, [gzip.compress(r.SerializeToString(), 1) for r in requests]),
        "json (hex ids)": ("application/json", False, [json.dumps(to_json(r)).encode() for r in requests]),
    }
    print(f"{args.requests} requests x {args.spans} spans, concurrency {args.concurrency}; "
          f"protobuf body {len(cases['protobuf'][2][0])} B, gzip {len(cases['protobuf+gzip'][2][0])} B, "
          f"json {len(cases['json (hex ids)'][2][0])} B")
    print(f"{'body':16} {'topic':10} {'writer':6} {'req/s':>8} {'spans/s':>9} {'vs no Kafka':>11}")
    for name, (content_type, gzipped, bodies) in cases.items():
        for encoding in ("otlp_proto", "otlp_json"):
            settings = Settings.from_env({"kafka": args.kafka, "otlp_encoding": encoding,
                                          "topic_otlp": f"bench-otlp-{uuid.uuid4().hex[:8]}"}, env={})
            await create_topic(settings)
            alone = await run(settings, NullWriter(), bodies, content_type, gzipped, args.concurrency)
            writer = KafkaWriter(settings, settings.max_event_bytes - 4096)
            await writer.start()
            try:
                kafka = await run(settings, writer, bodies, content_type, gzipped, args.concurrency)
            finally:
                await writer.stop()
            for label, elapsed in (("none", alone), ("kafka", kafka)):
                rate = len(bodies) / elapsed
                ratio = f"{alone / elapsed:.2f}x" if label == "kafka" else ""
                print(f"{name:16} {encoding:10} {label:6} {rate:8.0f} {rate * args.spans:9.0f} {ratio:>11}")


if __name__ == "__main__":
    asyncio.run(main())
