"""Is a tool result an error, and which ONE signal type does it deserve?

Shared by the failure (execution) and exhaustion (environment) detectors and by
``detectors.tools.result_is_error``; each result is classified once (a one-entry memo keyed by the
event object, since the session shows the same event to every detector in turn).

Decision order:
1. structure: ``is_error`` flag; else ``status_code`` (200-599 is HTTP: error iff >= 400; any other
   non-zero value is a process exit code: error; 0 is success); else a JSON object result with a
   truthy ``error``/``errors`` key, ``"status": "error"``, ``"success": false`` or ``"ok": false``
   (any other JSON value is a success and is never scanned);
2. shape, for plain text: an error-shaped start (``Error:``, ``ValueError:``, ``Traceback``,
   ``failed to``, ``HTTP/1.1 503``), or, for a short text only, a *strong* pattern that starts near
   its beginning ("read timed out after 10s", "HTTP 401 Unauthorized");
3. type: a status code from the table (a refinable code -- 400, 404, 422 or an exit code -- yields
   to a strong text pattern; an unmapped one to any pattern), else the best pattern (patterns.py),
   else the fallback tier, else ``default`` with ``unclassified: true``.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from detectors.execution.patterns import PatternTable, Scan, default_table, load_lexicon
from detectors.model import ToolResult
from detectors.text import cap

_JSON_HINTS = ('"error', '"status', '"success"', '"ok"')
_FAILED_STATUS = frozenset({"error", "fail", "failed", "failure"})
_ERROR_STATUS_KEYS = ("status_code", "status", "code", "http_status")
_BODY_STATUS_KEYS = ("status_code", "statusCode", "http_status")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


class ErrorClassification(msgspec.Struct, frozen=True, kw_only=True):
    """What kind of error one tool result is (signal type, confidence, the evidence span). Not the
    trajectory's ``detectors.verdict.Verdict`` (quality, scores, reasons)."""

    type: str
    confidence: float
    source: str  # "status_code" | "pattern" | "fallback" | "unclassified"
    matched: str = ""
    start: int = -1  # match span in the scanned text, -1 when nothing matched
    end: int = -1
    status_code: int | None = None


class ErrorClassifier:
    def __init__(self, *, head_chars: int = 60, max_plain_chars: int = 400, max_scan_chars: int = 2000,
                 table: PatternTable | None = None) -> None:
        self.head_chars = head_chars  # a strong phrase must start this early in plain text
        self.max_plain_chars = max_plain_chars  # longer plain text needs an explicit error shape
        self.max_scan_chars = max_scan_chars  # scanned text is capped (head and tail kept)
        self.table = table or default_table()
        config = load_lexicon("execution.toml")
        self.shape = re.compile(config["error_shape"], re.IGNORECASE)
        self.status = config["status"]
        self.exit_codes: dict[int, str] = {int(k): str(v) for k, v in config["exit_codes"]["codes"].items()}
        self.http_codes: dict[int, str] = {int(k): str(v) for k, v in self.status["codes"].items()}
        self.default = config["default"]
        self._memo: tuple[ToolResult, ErrorClassification | None] | None = None

    def classify(self, event: ToolResult) -> ErrorClassification | None:
        """The error classification for a tool result, or None when it is not an error."""
        memo = self._memo
        if memo is not None and memo[0] is event:
            return memo[1]
        classification = self._classify(event)
        self._memo = (event, classification)
        return classification

    def _classify(self, event: ToolResult) -> ErrorClassification | None:
        known, status = self._structure(event)
        if known is False:
            return None
        text = cap(event.result, self.max_scan_chars)
        evident = known is True or self.shape.match(text) is not None  # by structure or by shape
        if not evident and len(text) > self.max_plain_chars:
            return None
        scan = self.table.scan(text)
        if not evident and not 0 <= scan.first_strong <= self.head_chars:
            return None
        return self._decide(scan, status)

    def _structure(self, event: ToolResult) -> tuple[bool | None, int | None]:
        """(is it an error: True/False/None = unknown, status code)."""
        status = event.status_code
        body = _json_object(event.result)
        if status is None and body is not None:
            status = _body_status(body)
        if event.is_error is not None:
            return event.is_error, status
        if status is not None and _status_is_error(status):
            return True, status
        if body is not None:
            return _body_is_error(body), status
        if status is not None or _looks_like_value(event.result):
            return False, status
        return None, None

    def _decide(self, scan: Scan, status: int | None) -> ErrorClassification:
        text_classification = _from_scan(scan, with_fallback=False)
        if status is not None and _status_is_error(status):
            by_status = self._status_type(status)
            refinable = status in self.status["refine"] or not _is_http(status)
            strong_text = text_classification is not None and scan.rule is not None and scan.rule.tier == 0
            if text_classification is not None and (by_status is None or (refinable and strong_text)):
                return msgspec.structs.replace(text_classification, status_code=status)
            if by_status is not None:
                return ErrorClassification(type=by_status, confidence=float(self.status["confidence"]), source="status_code",
                               matched=scan.matched, start=scan.start, end=scan.end, status_code=status)
        classification = text_classification or _from_scan(scan, with_fallback=True)
        if classification is None:
            classification = ErrorClassification(type=f"execution.failure.{self.default['type']}",
                              confidence=float(self.default["confidence"]), source="unclassified")
        return msgspec.structs.replace(classification, status_code=status)

    def _status_type(self, status: int) -> str | None:
        if not _is_http(status):
            return self.exit_codes.get(status)
        if status in self.http_codes:
            return self.http_codes[status]
        return "environment.exhaustion.api_error" if status >= 500 else None


def _from_scan(scan: Scan, *, with_fallback: bool) -> ErrorClassification | None:
    rule = scan.rule
    if rule is None or (rule.tier == 2 and not with_fallback):
        return None
    source = "fallback" if rule.tier == 2 else "pattern"
    return ErrorClassification(type=rule.type, confidence=rule.confidence, source=source, matched=scan.matched,
                   start=scan.start, end=scan.end)


def _is_http(status: int) -> bool:
    return 200 <= status <= 599


def _status_is_error(status: int) -> bool:
    return status >= 400 if _is_http(status) else status != 0


def _looks_like_value(text: str) -> bool:
    """Empty, a JSON array, a number: a success value, never scanned."""
    stripped = text.strip()
    return not stripped or stripped.startswith("[") or _NUMBER.fullmatch(stripped) is not None


def _json_object(text: str) -> dict[str, Any] | None:
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return None
    for hint in _JSON_HINTS:
        if hint in stripped:
            break
    else:
        return {}
    try:
        return msgspec.structs.asdict(_body_decoder.decode(stripped))
    except msgspec.DecodeError:  # not JSON, truncated, or not an object
        return None


class _Body(msgspec.Struct):
    """The only top-level keys that matter; decoding skips the rest without building it."""

    error: Any = None
    errors: Any = None
    status: Any = None
    success: Any = None
    ok: Any = None
    status_code: Any = None
    statusCode: Any = None
    http_status: Any = None


_body_decoder = msgspec.json.Decoder(_Body)


def _body_is_error(body: dict[str, Any]) -> bool:
    if body.get("error") or body.get("errors"):
        return True
    status = body.get("status")
    if isinstance(status, str) and status.lower() in _FAILED_STATUS:
        return True
    return body.get("success") is False or body.get("ok") is False


def _body_status(body: dict[str, Any]) -> int | None:
    """``error.{status_code,status,code}`` or a top-level ``status_code``; bare ``code`` is data."""
    error = body.get("error")
    if isinstance(error, dict):
        for key in _ERROR_STATUS_KEYS:
            if _is_http_status(error.get(key)):
                return error[key]  # type: ignore[no-any-return]
    for key in _BODY_STATUS_KEYS:
        if _is_http_status(body.get(key)):
            return body[key]  # type: ignore[no-any-return]
    return None


def _is_http_status(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and _is_http(value)


DEFAULT_CLASSIFIER = ErrorClassifier()
