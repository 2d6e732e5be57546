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
