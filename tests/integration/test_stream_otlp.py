"""OTLP protobuf records (made by the official SDK) on the OTLP topic, as the Collector's kafka
exporter writes them (no key, no headers, spans of many traces per record) -> the worker -> the
same final records as the same conversations sent as events; a bad record -> the DLQ."""

from __future__ import annotations

import asyncio
import json
import random
import uuid

import pytest

from detectors.adapters.openai import to_trajectory
from detectors.session import analyze
from streams.codec import encode_report
from tests.support.kafka import final_records, read_topic
from tests.support.otel import T0, WEATHER, conversation_spans, to_proto

pytestmark = pytest.mark.integration
VERSION = "it-otlp"
METADATA = {"agent_id": "agent-7", "app_id": "support-bot", "tenant_id": "acme", "model": "gpt-4o"}
CHITCHAT = [{"role": "user", "content": "hello there"}, {"role": "assistant", "content": "Hi! How can I help?"},
            {"role": "user", "content": "this is useless, I want a human"},
            {"role": "assistant", "content": "I understand. Let me connect you."}]


async def _send(kafka: str, topic: str, values: list[bytes]) -> None:
    from aiokafka import AIOKafkaProducer
    producer = AIOKafkaProducer(bootstrap_servers=kafka.split("://")[-1])
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value)  # no key, no headers: the Collector's default
    finally:
        await producer.stop()


def test_otlp_records_give_the_records_of_the_same_conversations_sent_as_events(
        kafka_url, stream_names, start_worker) -> None:
    topic = f"it-otlp-{uuid.uuid4().hex[:10]}"
    conversations = {"weather": WEATHER, "chitchat": CHITCHAT}
    spans, want = [], {}
    for n, (name, messages) in enumerate(conversations.items()):
        made, timed = conversation_spans(messages, conversation=name, everywhere=True, start_ns=T0 + n * 60 * 10**9)
        spans += made
        openai = to_trajectory({"id": name, "messages": timed, "metadata": METADATA}, name, "test")
        want[name] = json.loads(encode_report(analyze(name, openai.events, pipeline_version=VERSION)))
    rng = random.Random(5)
    mixed = rng.sample(spans, len(spans))  # spans of both conversations mixed, out of order, 3 per record
    records = [to_proto(mixed[i:i + 3]) for i in range(0, len(mixed), 3)]
    start_worker(f"--topic-otlp={topic}", "--otlp-encoding=otlp_proto", "--idle-close=2",
                 f"--pipeline-version={VERSION}")
    asyncio.run(_send(kafka_url, topic, [*records, b"\x0a\xff\xff not a TracesData"]))

    messages = read_topic(kafka_url, stream_names["topic_trajectories"],
                          until=lambda ms: len(final_records(ms)) >= len(want))
    got = {tid: records[-1] for tid, records in final_records(messages).items()}
    assert got.keys() == want.keys()
    for name, record in want.items():
        trimmed = {k: v for k, v in got[name].items() if k not in ("first_ts", "last_ts")}
        assert trimmed == {k: v for k, v in record.items() if k not in ("first_ts", "last_ts")}, name
        assert got[name]["first_ts"] >= record["first_ts"]  # out of order: a later span's copy may come first
    assert any(r["signals"] for r in want.values())
    dead = read_topic(kafka_url, stream_names["topic_dlq"], until=lambda ms: len(ms) >= 1)
    headers = dict(dead[0].headers)
    assert (headers["x-error-reason"], headers["x-source-topic"].decode()) == (b"otlp", topic)
    assert dead[0].value == b"\x0a\xff\xff not a TracesData"


def _post_until_accepted(url: str, body: bytes, proc, timeout: float = 120.0) -> int:
    """POST ``body`` to the worker's receiver once it listens (the worker is starting); its status."""
    import time
    import urllib.error
    import urllib.request
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "worker exited"
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/x-protobuf"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            if error.code not in (429, 503):  # 503: Kafka not ready yet, as the spec allows; retried
                return int(error.code)
        except (ConnectionError, urllib.error.URLError):
            pass  # not listening yet
        time.sleep(0.5)
    raise AssertionError("the receiver never accepted the request")


def test_spans_posted_to_the_workers_receiver_give_the_record_of_the_same_conversation(
        kafka_url, stream_names, start_worker) -> None:
    """The whole way in over HTTP: OTLP/HTTP protobuf -> the receiver -> the OTLP topic -> the
    assembler -> the same final record as the conversation sent as OpenAI messages."""
    from tests.support.kafka import free_port
    topic, port = f"it-otlp-http-{uuid.uuid4().hex[:10]}", free_port()
    made, timed = conversation_spans(WEATHER, conversation="weather-http", everywhere=True)
    openai = to_trajectory({"id": "weather-http", "messages": timed, "metadata": METADATA}, "weather-http", "test")
    want = json.loads(encode_report(analyze("weather-http", openai.events, pipeline_version=VERSION)))
    proc = start_worker(f"--topic-otlp={topic}", f"--otlp-http-port={port}", "--idle-close=2",
                        f"--pipeline-version={VERSION}")
    spans = random.Random(9).sample(made, len(made))
    for half in (spans[: len(spans) // 2], spans[len(spans) // 2:]):  # two requests, out of order
        assert _post_until_accepted(f"http://127.0.0.1:{port}/v1/traces", to_proto(half), proc) == 200

    messages = read_topic(kafka_url, stream_names["topic_trajectories"], until=lambda ms: bool(final_records(ms)))
    got = final_records(messages)["weather-http"][-1]
    assert {k: v for k, v in got.items() if k not in ("first_ts", "last_ts")} == {
        k: v for k, v in want.items() if k not in ("first_ts", "last_ts")}
    assert want["signals"]
