"""The OTLP topic's records -> messages for the events topic. Pure: no Faust, no I/O.

A record is one ``TracesData`` (``SIGNALS_OTLP_ENCODING``: ``otlp_proto`` or ``otlp_json``), as the
Collector's kafka exporter writes it: no key, no headers, spans of many traces. ``OtlpReader``
decodes it, assembles the spans (``detectors.adapters.otel.Assembler``: one trajectory per
conversation, seq = position in the history) and returns the events as events-topic messages
KEYED BY TRAJECTORY ID, one envelope per trajectory (one message per event when the envelope
would pass ``max_bytes``). Why re-produce instead of feeding the sessions here: the OTLP topic is
not keyed by conversation, so the spans of one conversation reach several workers; keyed by
trajectory id on the events topic, every event of a conversation reaches its one session owner,
where the duplicate/reorder handling keeps each seq once (see docs/otel.md).

A record that cannot be read is rejected (reason ``otlp``); one with some unreadable spans gives
the events of the others and is ALSO rejected (reason ``otlp_spans``, the spans named in the
detail): re-reading it from the dead-letter topic is harmless, its events repeat their seqs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from detectors.adapters.otel import Assembler, SpanError, decode
from detectors.model import Event
from streams.codec import EMPTY, OTLP, OTLP_SPANS, OVERSIZE, Rejected, encode_events

MAX_DETAIL = 900


@dataclass
class OtlpRead:
    messages: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key, value) for the events topic
    rejected: Rejected | None = None
    spans: int = 0
    events: int = 0


class OtlpReader:
    """One per worker: its assembler's bounded memory saves re-sending repeated history."""

    def __init__(self, encoding: str = "otlp_proto", *, max_bytes: int = 1 << 20, max_record_bytes: int = 64 << 20,
                 assembler: Assembler | None = None) -> None:
        self.encoding, self.max_bytes, self.max_record_bytes = encoding, max_bytes, max_record_bytes
        self.assembler = assembler or Assembler()

    def read(self, value: bytes | None) -> OtlpRead:
        if not value:
            return OtlpRead(rejected=Rejected(EMPTY, "OTLP record value is empty"))
        if len(value) > self.max_record_bytes:
            return OtlpRead(rejected=Rejected(OVERSIZE, f"{len(value)} bytes > OTLP record limit {self.max_record_bytes}"))
        try:
            spans = decode(value, self.encoding)
        except SpanError as error:
            return OtlpRead(rejected=Rejected(OTLP, f"{self.encoding}: {error}"[:MAX_DETAIL]))
        batch = self.assembler.add(spans)
        out = OtlpRead(messages=self.messages(batch.events), spans=batch.spans, events=len(batch.events))
        if batch.problems:
            out.rejected = Rejected(OTLP_SPANS, f"{len(batch.problems)} of {batch.spans} spans unreadable: "
                                    + "; ".join(batch.problems)[:MAX_DETAIL])
        return out

    def messages(self, events: list[Event]) -> list[tuple[bytes, bytes]]:
        by_trajectory: dict[str, list[Event]] = {}
        for event in events:
            by_trajectory.setdefault(event.trajectory_id, []).append(event)
        out = []
        for trajectory_id, group in by_trajectory.items():
            key, value = trajectory_id.encode(), encode_events(group)
            if len(value) <= self.max_bytes or len(group) == 1:
                out.append((key, value))
            else:
                out += [(key, encode_events([event])) for event in group]
        return out
