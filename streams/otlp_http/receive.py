"""What the OTLP/HTTP receiver does with one ``POST /v1/traces``, without any I/O.

- ``media_type`` / ``inflate``: the Content-Type (``application/x-protobuf``, ``application/json``;
  anything else is 415) and the Content-Encoding (none, ``identity`` or ``gzip``; others are 415),
  the body decompressed up to a limit (past it 413; a broken gzip stream is 400);
- ``parse``: the body as an ``ExportTraceServiceRequest``; protobuf through the official
  ``opentelemetry-proto`` classes, OTLP/JSON with its hex ids converted before protobuf's JSON
  mapping reads the rest (that mapping alone reads hex ids as base64 and garbles them). An
  undecodable body is 400; a JSON span that cannot be read is rejected alone (partial success);
- ``records_of``: the spans with valid ids (16-byte trace id, 8-byte span id, neither all zero)
  as Kafka records in the topic's ONE encoding (``otlp_proto`` or ``otlp_json``, the Collector's
  kafka exporter's names): one ``TracesData`` per trace, keyed by the trace id in lower-case hex
  (as the exporter's ``partition_traces_by_id`` does), split until each record fits the record
  limit; a single span larger than the limit is rejected;
- ``response_body`` / ``status_body``: ``ExportTraceServiceResponse`` (with ``partial_success``
  when spans were rejected) and ``google.rpc.Status`` in the request's encoding.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from streams.otlp_http.ids import BadId, b64_to_hex, convert_span, hex_to_b64

PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
MEDIA_TYPES: Final = {"application/x-protobuf": PROTOBUF, "application/protobuf": PROTOBUF, "application/json": JSON}
ENCODING_OF_MEDIA: Final = {PROTOBUF: "otlp_proto", JSON: "otlp_json"}
ZERO_TRACE, ZERO_SPAN = bytes(16), bytes(8)
MAX_REASONS = 5  # rejected-span reasons named in the partial success message


class RequestError(Exception):
    """A request answered with ``status`` (400, 413, 415) and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def media_type(content_type: str | None) -> str:
    """The request's media type; 415 unless protobuf or JSON."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    media = MEDIA_TYPES.get(base)
    if media is None:
        raise RequestError(415, f"unsupported Content-Type {base or 'none'!r}: use {PROTOBUF} or {JSON}")
    return media


def inflate(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body decompressed (gzip), at most ``limit`` bytes."""
    coding = (content_encoding or "identity").strip().lower()
    if coding == "identity":
        out = body
    elif coding == "gzip":
        inflater = zlib.decompressobj(wbits=31)
        try:
            out = inflater.decompress(body, limit + 1)
        except zlib.error as error:
            raise RequestError(400, f"body is not valid gzip: {error}") from None
        if len(out) <= limit and not inflater.eof:
            raise RequestError(400, "body is not valid gzip: truncated stream")
    else:
        raise RequestError(415, f"unsupported Content-Encoding {coding!r}: use gzip or none")
    if len(out) > limit:
        raise RequestError(413, f"request body is larger than {limit} bytes decompressed")
    return out


@dataclass
class Parsed:
    request: ExportTraceServiceRequest
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, count: int, reason: str) -> None:
        self.rejected += count
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(reason)


def parse(body: bytes, media: str) -> Parsed:
    if media == PROTOBUF:
        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except DecodeError as error:
            raise RequestError(400, f"body is not an ExportTraceServiceRequest: {error}") from None
        return Parsed(request)
    return parse_json(body)


def parse_json(body: bytes) -> Parsed:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(400, f"body is not JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("resourceSpans", []), list):
        raise RequestError(400, 'body is not an OTLP/JSON ExportTraceServiceRequest: {"resourceSpans": [...]}')
    out = Parsed(ExportTraceServiceRequest())
    for index, resource_spans in enumerate(document.get("resourceSpans") or []):
        _json_resource_spans(resource_spans, index, out)
    return out


def _json_resource_spans(raw: Any, index: int, out: Parsed) -> None:
    scopes = raw.get("scopeSpans") if isinstance(raw, dict) else None
    if not isinstance(scopes, list):
        out.reject(0, f"resourceSpans[{index}]: no scopeSpans list")
        return
    target = out.request.resource_spans.add()
    try:
        json_format.ParseDict(raw.get("resource") or {}, target.resource, ignore_unknown_fields=True)
        target.schema_url = str(raw.get("schemaUrl") or "")
    except json_format.ParseError as error:
        out.reject(_span_count(scopes), f"resourceSpans[{index}].resource: {_short(error)}")
        del out.request.resource_spans[-1]
        return
    for position, scope_spans in enumerate(scopes):
        _json_scope_spans(scope_spans, f"resourceSpans[{index}].scopeSpans[{position}]", target, out)


def _json_scope_spans(raw: Any, where: str, target: Any, out: Parsed) -> None:
    spans = raw.get("spans") if isinstance(raw, dict) else None
    if not isinstance(spans, list):
        out.reject(0, f"{where}: no spans list")
        return
    scope = target.scope_spans.add()
    try:
        json_format.ParseDict(raw.get("scope") or {}, scope.scope, ignore_unknown_fields=True)
        scope.schema_url = str(raw.get("schemaUrl") or "")
    except json_format.ParseError as error:
        out.reject(len(spans), f"{where}.scope: {_short(error)}")
        del target.scope_spans[-1]
        return
    for position, span in enumerate(spans):
        try:
            if not isinstance(span, dict):
                raise BadId("not an object")
            converted = convert_span(span, hex_to_b64)
        except BadId as error:
            out.reject(1, f"{where}.spans[{position}]: {_short(error)}")
            continue
        try:
            json_format.ParseDict(converted, scope.spans.add(), ignore_unknown_fields=True)
        except json_format.ParseError as error:
            del scope.spans[-1]
            out.reject(1, f"{where}.spans[{position}]: {_short(error)}")


def _span_count(scopes: list[Any]) -> int:
    return sum(len(s.get("spans") or []) for s in scopes if isinstance(s, dict) and isinstance(s.get("spans"), list))


def _short(error: Exception) -> str:
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__


# ------------------------------------------------------------------------------------ records

@dataclass(frozen=True)
class Record:
    key: bytes  # the trace id, lower-case hex
    value: bytes  # one TracesData in the topic's encoding
    spans: int


@dataclass
class Accepted:
    records: list[Record]
    spans: int  # spans in the records
    rejected: int
    reasons: list[str]

    def message(self) -> str:
        if not self.rejected:
            return ""
        more = self.rejected - len(self.reasons)
        return "; ".join(self.reasons) + (f" (and {more} more)" if more > 0 and self.reasons else "")


Item = tuple[int, int, Span]  # (resource_spans index, scope_spans index, span)


def records_of(parsed: Parsed, encoding: str, max_record_bytes: int) -> Accepted:
    request = parsed.request
    traces: dict[bytes, list[Item]] = {}
    problems = Parsed(request, parsed.rejected, list(parsed.reasons))
    for r, resource_spans in enumerate(request.resource_spans):
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            for span in scope_spans.spans:
                reason = id_problem(span)
                if reason:
                    problems.reject(1, reason)
                    continue
                traces.setdefault(span.trace_id, []).append((r, s, span))
    records: list[Record] = []
    for trace_id, items in traces.items():
        _split(request, items, trace_id.hex().encode(), encoding, max_record_bytes, records, problems)
    return Accepted(records, sum(r.spans for r in records), problems.rejected, problems.reasons)


def id_problem(span: Span) -> str:
    """Why a span's ids are invalid ("" if they are not)."""
    if len(span.trace_id) != 16 or span.trace_id == ZERO_TRACE:
        return f"span {span.span_id.hex()[:16] or '(no id)'}: trace id {span.trace_id.hex()[:40]!r} is not 16 bytes (or is all zero)"
    if len(span.span_id) != 8 or span.span_id == ZERO_SPAN:
        return f"span of trace {span.trace_id.hex()}: span id {span.span_id.hex()[:40]!r} is not 8 bytes (or is all zero)"
    return ""


def _split(request: ExportTraceServiceRequest, items: list[Item], key: bytes, encoding: str, limit: int,
           records: list[Record], problems: Parsed) -> None:
    value = encode(subset(request, items), encoding)
    if len(value) <= limit:
        records.append(Record(key, value, len(items)))
    elif len(items) == 1:
        problems.reject(1, f"span {items[0][2].span_id.hex()}: {len(value)} bytes, larger than a record may be ({limit})")
    else:
        half = len(items) // 2
        _split(request, items[:half], key, encoding, limit, records, problems)
        _split(request, items[half:], key, encoding, limit, records, problems)


def subset(request: ExportTraceServiceRequest, items: list[Item]) -> ExportTraceServiceRequest:
    """A TracesData holding ``items``, each under a copy of its own resource and scope."""
    out = ExportTraceServiceRequest()
    resources: dict[int, Any] = {}
    scopes: dict[tuple[int, int], Any] = {}
    for r, s, span in items:
        target = scopes.get((r, s))
        if target is None:
            resource = resources.get(r)
            if resource is None:
                source = request.resource_spans[r]
                resource = resources[r] = out.resource_spans.add(schema_url=source.schema_url)
                resource.resource.CopyFrom(source.resource)
            source_scope = request.resource_spans[r].scope_spans[s]
            target = scopes[(r, s)] = resource.scope_spans.add(schema_url=source_scope.schema_url)
            target.scope.CopyFrom(source_scope.scope)
        target.spans.append(span)
    return out


def encode(request: ExportTraceServiceRequest, encoding: str) -> bytes:
    """One TracesData in the topic's encoding: protobuf bytes, or OTLP/JSON with hex ids."""
    if encoding == "otlp_proto":
        return bytes(request.SerializeToString())
    return json.dumps(to_json(request), separators=(",", ":")).encode()


def to_json(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """OTLP/JSON of a TracesData: camelCase keys, enums as integers, int64 as strings, hex ids."""
    document: dict[str, Any] = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            scope_spans["spans"] = [convert_span(span, b64_to_hex) for span in scope_spans.get("spans", [])]
    return document


# ------------------------------------------------------------------------------------ answers

def response_body(media: str, rejected: int, message: str) -> bytes:
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if media == PROTOBUF:
        return bytes(response.SerializeToString())
    return json.dumps(json_format.MessageToDict(response), separators=(",", ":")).encode()


def status_body(media: str, code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` (``code`` a gRPC code, e.g. 3 INVALID_ARGUMENT, 14 UNAVAILABLE)."""
    if media == PROTOBUF:
        text = message.encode()
        return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text
    return json.dumps({"code": code, "message": message}, separators=(",", ":")).encode()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
