"""execution.failure.*: one signal per tool result the agent's own use of the tool broke.

The classification comes from the shared classifier (classify.py), so a result is counted once across the
failure and exhaustion families (flaw 22), and its tool is the one of the call it answers by
``call_id`` (flaw 18), which the session resolved into ``view.call``.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from detectors.base import CloseView, EventView
from detectors.execution.classify import DEFAULT_CLASSIFIER, ErrorClassification, ErrorClassifier
from detectors.model import Signal, ToolResult

SNIPPET_CONTEXT = 50  # characters kept on each side of the match
SNIPPET_MAX = 120


class NoState(msgspec.Struct):
    """Failure and exhaustion are per-result decisions: nothing to remember."""


def snippet(text: str, start: int, end: int) -> str:
    """The original text around the match (or its head), with "..." where it was cut."""
    if start < 0:
        start = end = 0
    left = max(0, start - SNIPPET_CONTEXT)
    right = min(len(text), max(end + SNIPPET_CONTEXT, left + SNIPPET_MAX // 2), left + SNIPPET_MAX)
    body = " ".join(text[left:right].split())
    return ("..." if left else "") + body + ("..." if right < len(text) else "")


def error_signal(classification: ErrorClassification, view: EventView) -> Signal:
    assert isinstance(view.event, ToolResult)
    short = classification.type.rsplit(".", 1)[1]
    metadata: dict[str, object] = {"error_type": short, "source": classification.source}
    if view.call is not None and view.call.index >= 0:
        metadata["call_index"] = view.call.index
    if classification.matched:
        metadata["matched"] = classification.matched
    if classification.status_code is not None:
        metadata["status_code"] = classification.status_code
    if classification.source == "unclassified":
        metadata["unclassified"] = True
    return Signal(type=classification.type, index=view.index, confidence=classification.confidence, tool=view.tool or "unknown",
                  snippet=snippet(view.event.result, classification.start, classification.end), metadata=metadata)


class ToolErrorDetector:
    """Emits the classifier's classification when its type belongs to ``family``."""

    name: ClassVar[str] = "execution.failure"
    family: ClassVar[str] = "execution.failure."
    kinds: ClassVar[frozenset[str]] = frozenset({"tool_result"})
    state_type: ClassVar[type[msgspec.Struct]] = NoState

    def __init__(self, *, classifier: ErrorClassifier = DEFAULT_CLASSIFIER) -> None:
        self.classifier = classifier

    def on_event(self, state: NoState, view: EventView) -> list[Signal]:
        assert isinstance(view.event, ToolResult)
        classification = self.classifier.classify(view.event)
        if classification is None or not classification.type.startswith(self.family):
            return []
        return [error_signal(classification, view)]

    def on_close(self, state: NoState, close: CloseView) -> list[Signal]:
        return []


class FailureDetector(ToolErrorDetector):
    name = "execution.failure"
    family = "execution.failure."
