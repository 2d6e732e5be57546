"""Read a file (or ``-`` for stdin), detect each record's format from its content, dispatch.

Formats and their distinguishing keys (checked in this order):
- signals events: ``kind`` + ``trajectory_id`` (or an array of such: a batched envelope);
- τ-bench: ``task_id`` + ``traj``;
- ShareGPT: ``conversations``/``messages`` whose rows have ``from``;
- OpenAI chat: ``messages`` whose rows have ``role``, or a bare array of such messages;
- OpenTelemetry traces: OTLP/JSON ``TracesData`` objects (``resourceSpans``), one per line as the
  Collector's file exporter writes them; the spans of all such records are assembled together,
  one trajectory per conversation (``detectors/adapters/otel``), after the other records.
Ids: the record's ``id``, else ``<file stem>-<n>`` (n = 0-based record position; stem ``stdin``
for ``-``); τ-bench ids are ``<task_id>-<trial>``. Event trajectories keep their own ids.

Reading the path is the only I/O in ``detectors``; ``parse_trajectories`` is the pure part.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

from detectors.adapters import events, openai, otel, sharegpt, tau_bench
from detectors.adapters.base import AdapterError, Trajectory, describe
from detectors.adapters.records import decode_records, is_conversation
from detectors.model import Event

Converter = Callable[[Any, str, str], Trajectory]
CONVERTERS: Final[dict[str, Converter]] = {
    "tau-bench": tau_bench.to_trajectory,
    "sharegpt": sharegpt.to_trajectory,
    "openai": openai.to_trajectory,
}


def read_trajectories(path: str) -> Iterator[Trajectory]:
    """Trajectories from a file or ``-`` (stdin), format detected per record."""
    data, source, stem = _read(path)
    yield from parse_trajectories(data, source=source, stem=stem)


def parse_trajectories(data: bytes, *, source: str = "<input>", stem: str = "input") -> Iterator[Trajectory]:
    """Pure: bytes -> trajectories. Event records are grouped and come after the others, then the
    conversations of the OTLP records."""
    found: list[Event] = []
    spans: list[otel.Span] = []
    for record in decode_records(data, source):
        kind = detect_format(record.value)
        if kind == "events":
            found += events.decode_events(record.value, record.where)
        elif kind == "otlp":
            spans += _spans(record.value, record.where)
        elif kind is None:
            raise AdapterError(describe(record.value), where=record.where)
        else:
            yield CONVERTERS[kind](record.value, f"{stem}-{record.position}", record.where)
    yield from events.group(found)
    if spans:
        try:
            yield from otel.assemble(spans)
        except otel.SpanError as error:
            raise AdapterError(str(error), where=source, expected=OTLP_EXPECTED, fix=OTLP_FIX) from None


OTLP_EXPECTED: Final = "OTLP/JSON TracesData ({\"resourceSpans\": [...]}) with readable GenAI spans"
OTLP_FIX: Final = "check the span named (hex ids, valid JSON in message attributes), or drop it"


def _spans(value: Any, where: str) -> list[otel.Span]:
    try:
        return otel.spans_of(value)
    except otel.SpanError as error:
        raise AdapterError(str(error), where=where, expected=OTLP_EXPECTED, fix=OTLP_FIX) from None


def detect_format(value: Any) -> str | None:
    """'events', 'tau-bench', 'sharegpt', 'openai', 'otlp', or None when nothing matches."""
    if isinstance(value, list):
        return _list_format(value)
    if not isinstance(value, dict):
        return None
    if "kind" in value and "trajectory_id" in value:
        return "events"
    if "task_id" in value and "traj" in value:
        return "tau-bench"
    if "resourceSpans" in value or "resource_spans" in value:
        return "otlp"
    return _conversation_format(value)


def _list_format(rows: list[Any]) -> str | None:
    first = rows[0] if rows else None
    if isinstance(first, dict) and "kind" in first:
        return "events"
    if is_conversation(rows):
        return "openai" if "role" in first else "sharegpt"  # type: ignore[operator]
    return None


def _conversation_format(value: dict[str, Any]) -> str | None:
    key = "conversations" if "conversations" in value else "messages"
    rows = value.get(key)
    if not isinstance(rows, list):
        return None
    if not rows:
        return "sharegpt" if key == "conversations" else "openai"
    return _list_format(rows)


def _read(path: str) -> tuple[bytes, str, str]:
    if path == "-":
        return sys.stdin.buffer.read(), "<stdin>", "stdin"
    try:
        return Path(path).read_bytes(), path, Path(path).stem
    except FileNotFoundError:
        got, fix = f"no file at {path!r}", "check the path (use `-` to read standard input)"
    except IsADirectoryError:
        got, fix = f"{path!r}, which is a directory", "pass the trajectory files inside it"
    except PermissionError:
        got, fix = f"{path!r}, which is not readable", "check the file's permissions"
    raise AdapterError(got, expected="a readable trajectory file or `-` for stdin", fix=fix)
