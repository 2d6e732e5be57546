"""Bytes -> JSON records with their location: a JSON array, a single JSON value, or JSONL.

A top-level array of conversation messages (``role`` or ``from`` rows) is one record; any other
top-level array holds one record per element. In JSONL every non-blank line is one record.
"""

from __future__ import annotations

import re
from typing import Any, Final, NamedTuple

import msgspec

from detectors.adapters.base import AdapterError

_decoder: Final = msgspec.json.Decoder()
_BYTE_AT: Final = re.compile(r"\(byte (\d+)\)")
EMPTY_FIX: Final = "pass a file holding at least one trajectory"
DEEP_FIX: Final = "flatten the nested arrays/objects (a few hundred levels at most)"


class Record(NamedTuple):
    value: Any
    where: str  # "file.json record 3" or "file.jsonl:4"
    position: int  # 0-based position of the record in the file


def decode_records(data: bytes, source: str) -> list[Record]:
    if not data.strip():
        raise AdapterError("an empty input", where=source, fix=EMPTY_FIX)
    try:
        value = _decoder.decode(data)
    except msgspec.DecodeError as error:
        return _jsonl_records(data, source, error)
    except RecursionError:  # msgspec raises it for very deep nesting ([[[[...]]]])
        raise AdapterError("JSON nested too deeply to read", where=source, fix=DEEP_FIX) from None
    return _document_records(value, source)


def is_conversation(rows: list[Any]) -> bool:
    """A list of chat messages (OpenAI ``role`` or ShareGPT ``from`` rows), not of records."""
    first = rows[0] if rows else None
    return isinstance(first, dict) and ("role" in first or ("from" in first and "value" in first))


def _document_records(value: Any, source: str) -> list[Record]:
    if not isinstance(value, list) or is_conversation(value):
        return [Record(value, source, 0)]
    if not value:
        raise AdapterError("an empty JSON array", where=source, fix=EMPTY_FIX)
    return [Record(item, f"{source} record {n}", n) for n, item in enumerate(value)]


def _jsonl_records(data: bytes, source: str, document_error: msgspec.DecodeError) -> list[Record]:
    records: list[Record] = []
    for line_no, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(Record(_decoder.decode(line), f"{source}:{line_no}", len(records)))
        except msgspec.DecodeError as error:
            if not records:  # not JSONL either: report the document's own error
                raise _json_error(data, source, document_error) from None
            raise _json_error(line, f"{source}:{line_no}", error, line_no=line_no) from None
        except RecursionError:
            raise AdapterError("JSON nested too deeply to read", where=f"{source}:{line_no}", fix=DEEP_FIX) from None
    return records


def _json_error(data: bytes, where: str, error: msgspec.DecodeError, *, line_no: int = 0) -> AdapterError:
    """'invalid JSON at line 3, column 5: ...' from msgspec's byte offset."""
    found = _BYTE_AT.search(str(error))
    offset = int(found.group(1)) if found else len(data)
    line = data.count(b"\n", 0, offset) + (line_no or 1)
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    detail = str(error).replace("JSON is malformed: ", "")
    return AdapterError(f"invalid JSON at line {line}, column {column}: {detail}", where=where,
                        fix="repair the JSON (one complete value per line for JSONL)")
