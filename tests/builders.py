"""Test helpers: build events and trajectories tersely.

    conv("t1", U("hi"), A("hello"), C("search", {"q": "x"}, call_id="c1"), R("ok", call_id="c1"), End())
"""

from __future__ import annotations

from typing import Any

from detectors.model import (
    AssistantMessage,
    Event,
    Feedback,
    SessionEnd,
    ToolCall,
    ToolResult,
    UserMessage,
)


def U(text: str, **kw: Any) -> dict[str, Any]:
    return {"cls": UserMessage, "text": text, **kw}


def A(text: str, **kw: Any) -> dict[str, Any]:
    return {"cls": AssistantMessage, "text": text, **kw}


def C(tool: str, arguments: Any = None, **kw: Any) -> dict[str, Any]:
    return {"cls": ToolCall, "tool": tool, "arguments": arguments, **kw}


def R(result: str, **kw: Any) -> dict[str, Any]:
    return {"cls": ToolResult, "result": result, **kw}


def End(**kw: Any) -> dict[str, Any]:
    return {"cls": SessionEnd, **kw}


def Fb(score: float, **kw: Any) -> dict[str, Any]:
    return {"cls": Feedback, "score": score, **kw}


def conv(trajectory_id: str, *specs: dict[str, Any], start_ts: float | None = None, step: float = 1.0) -> list[Event]:
    """Events with seq 0..n-1; with ``start_ts`` each gets ts = start_ts + i*step unless given."""
    events: list[Event] = []
    for seq, spec in enumerate(specs):
        fields = dict(spec)
        cls = fields.pop("cls")
        if start_ts is not None:
            fields.setdefault("ts", start_ts + seq * step)
        events.append(cls(trajectory_id=trajectory_id, seq=seq, **fields))
    return events


def feed_detector(detector: Any, events: list[Event]) -> list[Any]:
    """Run one detector alone over events (only the kinds it asks for), as the session would."""
    from detectors.base import EventView

    state, out = detector.state_type(), []
    for event in events:
        view = EventView(event)
        if view.kind in detector.kinds:
            out += detector.on_event(state, view)
    return out


def no_end_events(count: int, prefix: str = "same") -> list[Event]:
    """Event-JSONL content for ``count`` trajectories with event times and NO end events (a
    correction, a repeated failing tool call, a quit), of different lengths."""
    out: list[Event] = []
    for i in range(count):
        specs = [U("Book a flight to Paris"), A("Which date?"), C("search", {"to": "PAR"}, call_id="c1"),
                 R("error: timeout", call_id="c1"), U("No, that's wrong, I said Paris"),
                 C("search", {"to": "PAR"}, call_id="c2"), R("error: timeout", call_id="c2"),
                 A("Sorry."), U("this is useless")]
        out += conv(f"{prefix}-{i}", *specs[: 7 + i % 3], start_ts=1_735_689_600.0 + 100 * i, step=7.0)
    return out
