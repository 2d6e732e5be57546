"""A final trajectory record as one OTLP span carrying our signals (the pure half of the exporter).

Attribute names are Plano's (katanemo/plano ``signals/otel.rs``, ../shared/design/otel.md §3):
- ``signals.quality`` (string: excellent, good, neutral, poor, severe), ``signals.quality_score``
  (double, 0-100), ``signals.turn_count`` (int: user + assistant turns);
- ``signals.<layer>.<category>.count`` and ``.severity`` (int) for each category with a count > 0;
  severity 1 for 1-2 instances, 2 for 3-4, 3 for 5 or more;
- one span event ``signal.<type>`` per instance with ``signal.type``, ``signal.message_index``
  (OUR index: the seq of the event the signal points at, not Plano's ShareGPT position),
  ``signal.confidence``, ``signal.snippet`` (when not empty), ``signal.metadata`` (compact JSON);
- the span name ends in `` 🚩`` when Plano calls a trajectory concerning (quality poor or severe,
  or disengagement > 0, stagnation > 2, failure > 0, loops > 0).
Ours besides: ``signals.triage_score``, ``signals.trajectory_id``, ``signals.pipeline_version``,
and the standard ``gen_ai.evaluation.result`` events: ``signals.quality`` (value quality_score,
label the quality), ``signals.triage`` (value triage_score, the reasons as explanation), and one
per category with a count > 0 (value the count, label none/low/medium/high by severity).

Trace: the trace and span of the trajectory's last OTel event when the input came from OTel (the
span is then the parent of ours), else a trace id derived from the trajectory id (sha256), so all
records of one trajectory land in one trace. The span id derives from (trace id, trajectory id):
a re-emitted final record of the same trajectory is the same span.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from detectors.model import Event, TrajectoryReport, category_of

SERVICE_NAME: Final = "agent-signals"
SCOPE_NAME: Final = "agent-signals"
SPAN_NAME: Final = "signals.trajectory"
FLAG: Final = " \U0001f6a9"  # Plano's FLAG_MARKER
EVALUATION_EVENT: Final = "gen_ai.evaluation.result"
SEVERITY_LABELS: Final = ("none", "low", "medium", "high")
# Where an OTel input's ids travel on our events (otel-in's decoder sets them; lead: one name).
TRACE_ID_KEYS: Final = ("otel_trace_id", "trace_id")
SPAN_ID_KEYS: Final = ("otel_span_id", "span_id")
MAX_EXPLANATION: Final = 1000


@dataclass(frozen=True, slots=True)
class TraceContext:
    trace_id: bytes  # 16 bytes
    span_id: bytes = b""  # 8 bytes: the parent of our span ("" for none)


def context_of(events: list[Event]) -> TraceContext | None:
    """The trace of the last event that names one (hex ids in its attributes), if any."""
    for event in reversed(events):
        trace_id = _hex(_first(event.attributes, TRACE_ID_KEYS), 16)
        if trace_id:
            return TraceContext(trace_id, _hex(_first(event.attributes, SPAN_ID_KEYS), 8))
    return None


def derived_context(trajectory_id: str) -> TraceContext:
    return TraceContext(_digest(f"agent-signals/trace/{trajectory_id}", 16))


def severity(count: int) -> int:
    """Plano's: 0 for none, 1 for 1-2 instances, 2 for 3-4, 3 for 5 or more."""
    return 0 if count <= 0 else 1 if count <= 2 else 2 if count <= 4 else 3


def category_counts(report: TrajectoryReport) -> dict[str, int]:
    out: dict[str, int] = {}
    for signal_type, count in report.counts.items():
        out[category_of(signal_type)] = out.get(category_of(signal_type), 0) + count
    return {category: count for category, count in sorted(out.items()) if count > 0}


def concerning(report: TrajectoryReport, categories: dict[str, int]) -> bool:
    return (report.quality in ("poor", "severe") or categories.get("interaction.disengagement", 0) > 0
            or categories.get("interaction.stagnation", 0) > 2 or categories.get("execution.failure", 0) > 0
            or categories.get("execution.loops", 0) > 0)


def signals_span(report: TrajectoryReport, context: TraceContext | None, now_ns: int) -> Span:
    context = context or derived_context(report.id)
    categories = category_counts(report)
    start = _ns(report.first_ts, now_ns)
    end = max(start, _ns(report.last_ts, start))
    span = Span(trace_id=context.trace_id, span_id=_digest(f"{context.trace_id.hex()}/{report.id}", 8),
                parent_span_id=context.span_id, name=SPAN_NAME + (FLAG if concerning(report, categories) else ""),
                kind=Span.SPAN_KIND_INTERNAL, start_time_unix_nano=start, end_time_unix_nano=end)
    attributes: dict[str, Any] = {
        "signals.quality": str(report.quality), "signals.quality_score": float(report.quality_score),
        "signals.turn_count": report.user_turns + report.assistant_turns,
        "signals.triage_score": float(report.triage_score), "signals.trajectory_id": report.id,
        "signals.pipeline_version": report.pipeline_version,
    }
    for category, count in categories.items():
        attributes[f"signals.{category}.count"] = count
        attributes[f"signals.{category}.severity"] = severity(count)
    span.attributes.extend(key_values(attributes))
    for signal in report.signals:
        event = span.events.add(name=f"signal.{signal.type}", time_unix_nano=end)
        event.attributes.extend(key_values({
            "signal.type": signal.type, "signal.message_index": signal.index,
            "signal.confidence": float(signal.confidence),
            **({"signal.snippet": signal.snippet} if signal.snippet else {}),
            "signal.metadata": json.dumps(signal.metadata, separators=(",", ":"), sort_keys=True, default=str),
        }))
    for name, value, label, explanation in evaluations(report, categories):
        event = span.events.add(name=EVALUATION_EVENT, time_unix_nano=end)
        event.attributes.extend(key_values({
            "gen_ai.evaluation.name": name, "gen_ai.evaluation.score.value": value,
            **({"gen_ai.evaluation.score.label": label} if label else {}),
            **({"gen_ai.evaluation.explanation": explanation} if explanation else {}),
        }))
    return span


def evaluations(report: TrajectoryReport, categories: dict[str, int]) -> list[tuple[str, float, str, str]]:
    """(name, score value, label, explanation) of each ``gen_ai.evaluation.result`` event."""
    out = [("signals.quality", float(report.quality_score), str(report.quality), ""),
           ("signals.triage", float(report.triage_score), "", "; ".join(report.reasons)[:MAX_EXPLANATION])]
    out += [(f"signals.{category}", float(count), SEVERITY_LABELS[severity(count)], "")
            for category, count in categories.items()]
    return out


def export_request(spans: list[Span], service_version: str = "") -> ExportTraceServiceRequest:
    """One request holding ``spans`` under our resource and scope."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(key_values(
        {"service.name": SERVICE_NAME, **({"service.version": service_version} if service_version else {})}))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name, scope_spans.scope.version = SCOPE_NAME, service_version
    scope_spans.spans.extend(spans)
    return request


def key_values(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes.items()]


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def _ns(ts: float | None, default: int) -> int:
    return round(ts * 1e9) if ts is not None and ts > 0 else default


def _digest(text: str, size: int) -> bytes:
    raw = hashlib.sha256(text.encode()).digest()[:size]
    return raw if any(raw) else b"\x01" + raw[1:]


def _first(attributes: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((attributes[key] for key in keys if attributes.get(key)), None)


def _hex(value: Any, size: int) -> bytes:
    if not isinstance(value, str):
        return b""
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return b""
    return raw if len(raw) == size and any(raw) else b""
