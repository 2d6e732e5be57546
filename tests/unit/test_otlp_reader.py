"""streams.otlp: OTLP records -> events-topic messages keyed by trajectory id; through the pipeline
core they give the record of the same conversation sent as OpenAI messages."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from detectors.adapters.openai import to_trajectory
from detectors.session import analyze
from streams.codec import OTLP, OTLP_SPANS, Rejected, decode, encode_report
from streams.otlp import OtlpReader
from streams.pipeline import MemoryStore, Pipeline
from tests.support.otel import WEATHER, conversation_spans, to_json_lines, to_proto


@dataclass
class Msg:
    key: bytes | None
    value: bytes
    partition: int = 0
    headers: Any = None


def _records(seed: int) -> list[bytes]:
    sdk, _ = conversation_spans(WEATHER, conversation="conv-k", shape="genai", everywhere=True)
    rng = random.Random(seed)
    shuffled = rng.sample(sdk, len(sdk))
    return [to_proto(shuffled[i:i + 2]) for i in range(0, len(shuffled), 2)]


def test_records_become_messages_keyed_by_trajectory_id_that_the_codec_reads() -> None:
    reader = OtlpReader()
    messages = [m for record in _records(0) for m in reader.read(record).messages]
    assert {key for key, _ in messages} == {b"conv-k"}
    decoded = [e for key, value in messages for e in decode(value, key)]  # type: ignore[union-attr]
    assert sorted(e.seq for e in decoded) == list(range(9))


def _through_pipeline(records: list[bytes]) -> dict[str, Any]:
    reader, pipeline = OtlpReader(), Pipeline(MemoryStore(), idle_close_s=0.0)
    for record in records:  # each OTLP record's messages as one batch
        pipeline.process([Msg(key, value) for key, value in reader.read(record).messages], now=1.0)
    out = pipeline.process([Msg(None, b"", headers=[("x-signals-control", b"tick")])], now=100.0)
    [update] = out.updates
    assert update.trigger == "idle"
    return json.loads(encode_report(update.report("")))


def test_through_the_pipeline_the_record_equals_the_openai_conversations() -> None:
    sdk, timed = conversation_spans(WEATHER, conversation="conv-k", shape="genai", everywhere=True)
    openai = to_trajectory({"id": "conv-k", "messages": timed, "metadata": {
        "agent_id": "agent-7", "app_id": "support-bot", "tenant_id": "acme", "model": "gpt-4o"}}, "x", "t")
    want = json.loads(encode_report(analyze("conv-k", openai.events)))
    assert _through_pipeline([to_proto([span]) for span in sdk]) == want  # exported as they end
    shuffled = _through_pipeline(_records(3))
    # out of order, a message's ts is that of the first span delivered holding it (docs/otel.md)
    assert shuffled["first_ts"] >= want["first_ts"]
    assert {k: v for k, v in shuffled.items() if k not in ("first_ts", "last_ts")} == {
        k: v for k, v in want.items() if k not in ("first_ts", "last_ts")}


def test_unreadable_records_and_spans_are_rejected_with_a_reason() -> None:
    reader = OtlpReader()
    garbage = reader.read(b"\x0a\xff\xff not protobuf")
    assert garbage.messages == [] and isinstance(garbage.rejected, Rejected) and garbage.rejected.reason == OTLP
    assert reader.read(b"").rejected == Rejected("empty", "OTLP record value is empty")
    sdk, _ = conversation_spans(WEATHER[:2], conversation="half", shape="genai", everywhere=True)
    lines = to_json_lines(sdk, per_line=len(sdk))
    document = json.loads(lines)
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    bad = next(s for s in spans if s["name"].startswith("chat"))
    bad["attributes"] = [a if a["key"] != "gen_ai.input.messages" else
                         {"key": a["key"], "value": {"stringValue": "[{oops"}} for a in bad["attributes"]]
    partial = OtlpReader("otlp_json").read(json.dumps(document).encode())
    assert partial.rejected is not None and partial.rejected.reason == OTLP_SPANS
    assert bad["spanId"] in partial.rejected.detail and "invalid JSON" in partial.rejected.detail


def test_an_envelope_too_large_is_split_into_one_message_per_event() -> None:
    record = to_proto(conversation_spans(WEATHER, conversation="big", shape="genai", everywhere=True)[0])
    messages = OtlpReader(max_bytes=200).read(record).messages
    assert len(messages) == 9 and all(len(decode(v, k)) == 1 for k, v in messages)  # type: ignore[arg-type]


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes, Any]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes, partition: Any, timestamp: Any,
                   headers: Any) -> None:
        self.sent.append((topic, key, value, headers))


@dataclass
class _Kafka:
    value: bytes
    key: bytes | None = None
    topic: str = "otlp_spans"
    partition: int = 2
    offset: int = 41
    headers: Any = None


def test_the_otlp_agent_sends_events_to_the_events_topic_and_bad_records_to_the_dlq() -> None:
    import asyncio
    from types import SimpleNamespace

    from streams.settings import Settings
    from streams.worker.metrics import Metrics
    from streams.worker.otlp_agent import OtlpIngest

    producer, metrics = _Producer(), Metrics()
    topics = SimpleNamespace(events=SimpleNamespace(get_topic_name=lambda: "ev"),
                             dlq=SimpleNamespace(get_topic_name=lambda: "dead"))
    ingest = OtlpIngest(SimpleNamespace(producer=producer), topics, Settings(topic_otlp="otlp_spans"),  # type: ignore[arg-type]
                        metrics)
    records = _records(1)
    asyncio.run(ingest.process([SimpleNamespace(message=_Kafka(r)) for r in [*records, b"\xff\xff"]]))
    to_events = [s for s in producer.sent if s[0] == "ev"]
    assert {key for _, key, _, _ in to_events} == {b"conv-k"}
    assert sum(len(decode(v, k)) for _, k, v, _ in to_events) == 9  # type: ignore[arg-type]
    [(_, key, value, headers)] = [s for s in producer.sent if s[0] == "dead"]
    assert (key, value, dict(headers)["x-error-reason"], dict(headers)["x-source-offset"]) == (
        None, b"\xff\xff", b"otlp", b"41")
    assert metrics.otlp_spans._value.get() == 7 and metrics.otlp_events._value.get() == 9
    assert metrics.rejected.labels("otlp")._value.get() == 1
