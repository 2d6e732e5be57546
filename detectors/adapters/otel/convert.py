"""A span's ``Reading`` -> events, through the OpenAI adapter: its messages are OpenAI chat
messages, so one conversation gives the same events whether it arrives as OTel or as OpenAI.
``seq`` is the event's position in the span's whole history (input then output), which every
span repeating that history gives again: the same (trajectory_id, seq) for the same message."""

from __future__ import annotations

from typing import Any

from detectors.adapters.base import AdapterError
from detectors.adapters.builder import EventBuilder
from detectors.adapters.openai import add_messages, decode_messages
from detectors.adapters.otel.reading import Reading
from detectors.adapters.otel.spans import SpanError
from detectors.model import Event


def events_of(trajectory_id: str, common: dict[str, str], reading: Reading, where: str, *, start: int = 0,
              first_seq: int = 0, call_names: dict[str, str] | None = None) -> list[Event]:
    """The events of ``reading.messages[start:]``, the first with ``seq = first_seq``: a caller that
    converted the first ``start`` messages before (into ``first_seq`` events, the tool names of
    their calls in ``call_names``) gets the same events as a whole conversion would give after them."""
    out = EventBuilder(trajectory_id, common, first_seq)
    marks: list[int] = []
    try:
        add_messages(out, decode_messages(reading.messages[start:], where), where, marks=marks, call_names=call_names)
    except AdapterError as error:
        raise SpanError(str(error)) from None
    for position, attributes in reading.extras.items():
        if position >= start:
            _annotate(out.events, marks, position - start, attributes)
    return out.events


def _annotate(events: list[Event], marks: list[int], position: int, attributes: dict[str, Any]) -> None:
    """Give the first event of message ``position`` the attributes (none if it made no event)."""
    start = marks[position]
    end = marks[position + 1] if position + 1 < len(marks) else len(events)
    if start < end:
        events[start].attributes = {**events[start].attributes, **attributes}
