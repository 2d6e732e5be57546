"""environment.exhaustion.*: transient errors, one type each, never also counted as a failure."""

from __future__ import annotations

from typing import Any

import pytest

from detectors.environment.exhaustion import ExhaustionDetector
from detectors.execution.failure import FailureDetector
from detectors.model import Signal
from detectors.session import Engine, analyze
from tests.builders import C, R, conv

ENGINE = Engine([FailureDetector(), ExhaustionDetector()])


def one_result(text: str, **kw: Any) -> list[Signal]:
    return analyze("t", conv("t", C("api", {}, call_id="c"), R(text, call_id="c", **kw)), engine=ENGINE).signals


def types(signals: list[Signal]) -> list[str]:
    return [s.type for s in signals]


@pytest.mark.parametrize(("text", "expected"), [
    ("HTTP 429: too many requests, retry after 30s", "rate_limit"),
    ("Error: rate limit exceeded for model gpt-4o", "rate_limit"),
    ("502 bad gateway from upstream", "api_error"),
    ("Error: 503 Service Unavailable", "api_error"),
    ("read timed out after 10s", "timeout"),
    ("Error: deadline exceeded", "timeout"),
    ("ECONNRESET: connection reset by peer", "network"),
    ("Error: getaddrinfo ENOTFOUND api.example.com", "network"),
    ("failed to decode body", "malformed_response"),
    ("Error: unexpected end of JSON input", "malformed_response"),
    ("prompt too long for this model", "context_overflow"),
    ("Error: This model's maximum context length is 8192 tokens", "context_overflow"),
])
def test_error_text_gets_one_exhaustion_type(text: str, expected: str) -> None:
    assert types(one_result(text)) == [f"environment.exhaustion.{expected}"]


@pytest.mark.parametrize(("status", "expected"), [
    (429, "rate_limit"), (500, "api_error"), (502, "api_error"), (503, "api_error"), (599, "api_error"),
    (504, "timeout"), (408, "timeout"), (413, "context_overflow"), (124, "timeout"),
])
def test_status_code_decides_exhaustion_type(status: int, expected: str) -> None:
    [signal] = one_result("something went wrong", status_code=status)
    assert signal.type == f"environment.exhaustion.{expected}"
    assert signal.metadata["status_code"] == status
    assert signal.tool == "api"
    assert signal.metadata["call_index"] == 0


@pytest.mark.parametrize("text", [
    "unexpected token at position 42", "could not parse the upstream response", "Unexpected character at line 3 column 7",
    "JSON parse error at line 1", "cannot parse the server response", "parse error at position 17",
])
def test_bare_parser_message_is_malformed_response(text: str) -> None:
    """Issue 10 item 7: no "Error:" prefix, no status: the parser message alone says what broke."""
    [signal] = one_result(text)
    assert signal.type == "environment.exhaustion.malformed_response"
    assert signal.metadata["source"] == "pattern"


@pytest.mark.parametrize("text", [
    "The parser reported an unexpected token in your last message, but the booking went through fine and "
    "your confirmation number is ABC123; nothing else needs doing and the seat map was updated as you asked.",
    "could not parse the request body: field 'date' must be YYYY-MM-DD",
    "how to parse the response?",
])
def test_parser_words_in_other_contexts_are_not_malformed_response(text: str) -> None:
    assert "environment.exhaustion.malformed_response" not in types(one_result(text))


def test_400_with_context_text_is_context_overflow() -> None:
    assert types(one_result("This model's maximum context length is 8192 tokens", status_code=400)) == [
        "environment.exhaustion.context_overflow"]


def test_c23_bare_observations() -> None:
    texts = ["HTTP 429: too many requests, retry after 30s", "502 bad gateway from upstream",
             "read timed out after 10s", "ECONNRESET: connection reset by peer", "failed to decode body",
             "prompt too long for this model", "504 gateway timeout", "Invalid JSON at line 1"]
    signals = analyze("c23", conv("c23", *[R(t) for t in texts]), engine=ENGINE).signals
    assert [(s.type.rsplit(".", 1)[1], s.index) for s in signals] == [
        ("rate_limit", 0), ("api_error", 1), ("timeout", 2), ("network", 3), ("malformed_response", 4),
        ("context_overflow", 5), ("timeout", 6), ("invalid_args", 7)]
    assert all(s.tool == "unknown" for s in signals)


def test_flaw21_precedence() -> None:
    assert types(one_result("Request exceeded the token limit of the model")) == [
        "environment.exhaustion.context_overflow"]
    assert types(one_result("504 gateway timeout")) == ["environment.exhaustion.timeout"]


def test_flaw22_one_observation_is_counted_once() -> None:
    for text in ("Invalid JSON at line 1", "Error: invalid parameter; server error, try again later",
                 "HTTP 401 Unauthorized: token expired, connection reset"):
        assert len(one_result(text)) == 1, text


@pytest.mark.parametrize("text", ['{"timeout": 30}', "server error rates are low", "Timeout: 30 seconds",
                                  '{"rate_limit": {"remaining": 10}}', "max tokens: 4096"])
def test_flaw20_successful_results_give_no_exhaustion(text: str) -> None:
    assert one_result(text) == []
