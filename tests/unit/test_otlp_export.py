"""The signals span (streams/otlp_http/export.py) by value: Plano's attribute names, events, trace."""

from __future__ import annotations

import hashlib
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from detectors.model import Signal, ToolCall, TrajectoryReport, UserMessage
from streams.otlp_http.export import (
    TraceContext,
    context_of,
    derived_context,
    export_request,
    severity,
    signals_span,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


def value(held: AnyValue) -> Any:
    return getattr(held, held.WhichOneof("value"))


def attrs(pairs: Any) -> dict[str, Any]:
    return {pair.key: value(pair.value) for pair in pairs}


def report(**changes: Any) -> TrajectoryReport:
    base: dict[str, Any] = dict(
        id="conv-1", quality="poor", quality_score=31.5, triage_score=0.82, pipeline_version="9.9",
        final=True, user_turns=3, assistant_turns=2, first_ts=1760000000.0, last_ts=1760000012.5,
        reasons=["tool failures", "user correction"],
        counts={"execution.failure.invalid_args": 3, "interaction.misalignment.correction": 1,
                "interaction.misalignment.rephrase": 1},
        signals=[Signal(type="interaction.misalignment.correction", index=4, confidence=0.9, snippet="no, I said",
                        metadata={"b": 2, "a": "x"}),
                 Signal(type="execution.failure.invalid_args", index=6, tool="get_weather")])
    base.update(changes)
    return TrajectoryReport(**base)


def test_span_carries_plano_attribute_names_and_our_triage_score() -> None:
    span = signals_span(report(), None, now_ns=5)
    assert attrs(span.attributes) == {
        "signals.quality": "poor", "signals.quality_score": 31.5, "signals.turn_count": 5,
        "signals.triage_score": 0.82, "signals.trajectory_id": "conv-1", "signals.pipeline_version": "9.9",
        "signals.execution.failure.count": 3, "signals.execution.failure.severity": 2,
        "signals.interaction.misalignment.count": 2, "signals.interaction.misalignment.severity": 1,
    }
    assert span.attributes[2].value.WhichOneof("value") == "int_value"
    assert span.attributes[1].value.WhichOneof("value") == "double_value"
    assert span.name == "signals.trajectory \U0001f6a9"  # poor: concerning
    assert span.kind == Span.SPAN_KIND_INTERNAL
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (1760000000_000000000, 1760000012_500000000)


def test_one_signal_event_per_instance_and_evaluation_results() -> None:
    span = signals_span(report(), None, now_ns=5)
    events = [(event.name, attrs(event.attributes)) for event in span.events]
    assert events == [
        ("signal.interaction.misalignment.correction",
         {"signal.type": "interaction.misalignment.correction", "signal.message_index": 4, "signal.confidence": 0.9,
          "signal.snippet": "no, I said", "signal.metadata": '{"a":"x","b":2}'}),
        ("signal.execution.failure.invalid_args",
         {"signal.type": "execution.failure.invalid_args", "signal.message_index": 6, "signal.confidence": 1.0,
          "signal.metadata": "{}"}),
        ("gen_ai.evaluation.result", {"gen_ai.evaluation.name": "signals.quality",
                                      "gen_ai.evaluation.score.value": 31.5, "gen_ai.evaluation.score.label": "poor"}),
        ("gen_ai.evaluation.result", {"gen_ai.evaluation.name": "signals.triage", "gen_ai.evaluation.score.value": 0.82,
                                      "gen_ai.evaluation.explanation": "tool failures; user correction"}),
        ("gen_ai.evaluation.result", {"gen_ai.evaluation.name": "signals.execution.failure",
                                      "gen_ai.evaluation.score.value": 3.0, "gen_ai.evaluation.score.label": "medium"}),
        ("gen_ai.evaluation.result", {"gen_ai.evaluation.name": "signals.interaction.misalignment",
                                      "gen_ai.evaluation.score.value": 2.0, "gen_ai.evaluation.score.label": "low"}),
    ]
    assert {event.time_unix_nano for event in span.events} == {1760000012_500000000}


def test_severity_is_planos() -> None:
    assert [severity(n) for n in range(8)] == [0, 1, 1, 2, 2, 3, 3, 3]


def test_quiet_trajectory_has_no_flag_and_no_category_keys() -> None:
    span = signals_span(report(quality="good", counts={}, signals=[], reasons=[]), None, now_ns=5)
    assert span.name == "signals.trajectory"
    assert not [a.key for a in span.attributes if a.key.endswith((".count", ".severity"))]
    assert [attrs(e.attributes)["gen_ai.evaluation.name"] for e in span.events] == ["signals.quality", "signals.triage"]
    assert "gen_ai.evaluation.explanation" not in attrs(span.events[1].attributes)


def test_flag_rules() -> None:
    def flagged(**changes: Any) -> bool:
        return signals_span(report(**{"quality": "good", **changes}), None, 5).name.endswith("\U0001f6a9")
    assert flagged(counts={"interaction.stagnation.dragging": 3})
    assert not flagged(counts={"interaction.stagnation.dragging": 2})
    assert flagged(counts={"interaction.disengagement.quit": 1})
    assert flagged(counts={"execution.loops.retry": 1})
    assert not flagged(counts={"interaction.satisfaction.gratitude": 4})
    assert flagged(counts={"execution.failure.bad_query": 1})
    assert flagged(quality="severe", counts={}) and not flagged(quality="neutral", counts={})


def test_in_the_conversations_trace_when_known() -> None:
    context = TraceContext(bytes.fromhex(TRACE), bytes.fromhex(PARENT))
    span = signals_span(report(), context, now_ns=5)
    assert (span.trace_id.hex(), span.parent_span_id.hex()) == (TRACE, PARENT)
    assert span.span_id == hashlib.sha256(f"{TRACE}/conv-1".encode()).digest()[:8]


def test_derived_trace_is_deterministic_per_trajectory() -> None:
    first, again = signals_span(report(), None, 1), signals_span(report(quality_score=10.0), None, 2)
    assert first.trace_id == again.trace_id == hashlib.sha256(b"agent-signals/trace/conv-1").digest()[:16]
    assert first.span_id == again.span_id and first.parent_span_id == b""
    assert signals_span(report(id="conv-2"), None, 1).trace_id != first.trace_id
    assert derived_context("conv-1").trace_id == first.trace_id


def test_missing_times_fall_back_to_now() -> None:
    span = signals_span(report(first_ts=None, last_ts=None), None, now_ns=77)
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (77, 77)


def test_context_of_takes_the_last_event_naming_a_valid_trace() -> None:
    events = [UserMessage(trajectory_id="t", seq=0, attributes={"otel_trace_id": TRACE, "otel_span_id": PARENT}),
              ToolCall(trajectory_id="t", seq=1, attributes={"otel_trace_id": "zz"}),
              UserMessage(trajectory_id="t", seq=2, attributes={"otel_trace_id": "0" * 32})]
    assert context_of(events) == TraceContext(bytes.fromhex(TRACE), bytes.fromhex(PARENT))
    later = [*events, UserMessage(trajectory_id="t", seq=3, attributes={"otel_trace_id": "ab" * 16})]
    assert context_of(later) == TraceContext(bytes.fromhex("ab" * 16), b"")
    assert context_of([UserMessage(trajectory_id="t", seq=0)]) is None


def test_export_request_has_our_resource_and_scope() -> None:
    request = export_request([signals_span(report(), None, 1)], "9.9")
    resource_spans = request.resource_spans[0]
    assert attrs(resource_spans.resource.attributes) == {"service.name": "agent-signals", "service.version": "9.9"}
    assert (resource_spans.scope_spans[0].scope.name, len(resource_spans.scope_spans[0].spans)) == ("agent-signals", 1)
