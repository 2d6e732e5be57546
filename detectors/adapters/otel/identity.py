"""Which conversation a span belongs to, and the producer fields of its events.

Conversation: ``gen_ai.conversation.id``, else ``session.id`` (span, then resource), else the same
found on an ancestor span or another span of the trace (in the batch, or remembered from an
earlier one), else the trace id (hex). Fields: ``agent_id`` = ``gen_ai.agent.id`` or
``gen_ai.agent.name`` (OpenInference ``agent.name``) (the span, its ancestors, the trace's ``invoke_agent`` span); ``app_id`` =
``service.name``; ``tenant_id`` = ``tenant.id``, else ``service.namespace``; ``model`` =
``gen_ai.request.model``, ``gen_ai.response.model`` or OpenInference ``llm.model_name``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from detectors.adapters.otel.spans import Span

CONVERSATION_KEYS: Final = ("gen_ai.conversation.id", "session.id")
AGENT_KEYS: Final = ("gen_ai.agent.id", "gen_ai.agent.name", "agent.name")  # the last: OpenInference
MODEL_KEYS: Final = ("gen_ai.request.model", "gen_ai.response.model", "llm.model_name")
MAX_ANCESTORS: Final = 64


@dataclass(slots=True)
class TraceInfo:
    conversation: str = ""
    agent: str = ""


class Identities:
    """Trace id -> what its spans said (bounded LRU: oldest traces forgotten first)."""

    def __init__(self, max_traces: int) -> None:
        self.max_traces = max_traces
        self.traces: OrderedDict[str, TraceInfo] = OrderedDict()

    def learn(self, spans: list[Span]) -> dict[str, Span]:
        """Remember each trace's conversation and agent; returns span id -> span of the batch."""
        by_id = {span.span_id: span for span in spans}
        for span in spans:
            info = self._info(span.trace_id)
            info.conversation = info.conversation or _text(span.attr(*CONVERSATION_KEYS))
            info.agent = info.agent or _text(span.attr(*AGENT_KEYS))
        return by_id

    def conversation(self, span: Span, by_id: dict[str, Span]) -> str:
        return (self._inherited(span, by_id, CONVERSATION_KEYS) or self._info(span.trace_id).conversation
                or span.trace_id)

    def common(self, span: Span, by_id: dict[str, Span]) -> dict[str, str]:
        found = {
            "agent_id": self._inherited(span, by_id, AGENT_KEYS) or self._info(span.trace_id).agent,
            "app_id": _text(span.resource.get("service.name")),
            "tenant_id": _text(span.attr("tenant.id", "service.namespace")),
            "model": _text(span.attr(*MODEL_KEYS)),
        }
        return {name: value for name, value in found.items() if value}

    def _inherited(self, span: Span, by_id: dict[str, Span], keys: tuple[str, ...]) -> str:
        current: Span | None = span
        for _ in range(MAX_ANCESTORS):
            if current is None:
                return ""
            value = _text(current.attr(*keys))
            if value:
                return value
            current = by_id.get(current.parent_id) if current.parent_id else None
        return ""

    def _info(self, trace_id: str) -> TraceInfo:
        info = self.traces.get(trace_id)
        if info is None:
            info = self.traces[trace_id] = TraceInfo()
            if len(self.traces) > self.max_traces:
                self.traces.popitem(last=False)
        else:
            self.traces.move_to_end(trace_id)
        return info


def _text(value: object) -> str:
    return value[:256] if isinstance(value, str) else "" if value is None else str(value)[:256]
