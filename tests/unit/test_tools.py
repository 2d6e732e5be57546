"""Tool helpers: canonical argument identity and the shared "is this result an error" verdict."""

from __future__ import annotations

from typing import Any

import pytest

from detectors.model import ToolResult
from detectors.tools import args_key, result_is_empty, result_is_error


def result(text: str, **kw: Any) -> ToolResult:
    return ToolResult(trajectory_id="t", seq=0, result=text, **kw)


def test_args_key_ignores_key_order_and_openai_string_encoding() -> None:
    assert args_key('{"b": 2, "a": 1}') == args_key({"a": 1, "b": 2}) == args_key('{"a":1,"b":2}')
    assert args_key({"a": 1}) != args_key({"a": 2})
    assert args_key(None) == ""
    assert args_key("not json") == '"not json"'


@pytest.mark.parametrize(("event", "expected"), [
    (result("anything", is_error=True), True),
    (result("Error: boom", is_error=False), False),
    (result("ok", status_code=500), True),
    (result("Error: ok really", status_code=201), False),
    (result("", status_code=1), True),  # non-zero exit code
    (result("Error: x", status_code=0), False),
    (result('{"error": "bad"}'), True),
    (result('{"errors": [{"message": "bad"}]}'), True),
    (result('{"status": "error"}'), True),
    (result('{"success": false}'), True),
    (result('{"error": null, "data": 1}'), False),
    (result('{"timeout": 30}'), False),
    (result("Traceback (most recent call last):"), True),
    (result("ValueError: bad literal"), True),
    (result("failed to open file"), True),
    (result("read timed out after 10s"), True),
    (result("server error rates are low"), False),
    (result("no conflict found"), False),
    (result("Error rates are low"), False),
    (result("42"), False),
])
def test_result_is_error(event: ToolResult, expected: bool) -> None:
    assert result_is_error(event) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("[]", True), ("{}", True), ('{"flights": [], "next": null}', True), ("No flights found", True),
    ("no matching orders found.", True), ("Reservation not found", True), ("0 results", True),
    ("", False),  # blank: a tool that returns nothing by design (think)
    ('[{"flight_number": "HAT001"}]', False), ('{"balance": 0}', False), ("12.0", False),
    ("Found 3 flights", False), ("No problem, found 3 flights", False), ("no" + " x" * 200 + " found", False),
])
def test_result_is_empty(text: str, expected: bool) -> None:
    assert result_is_empty(result(text)) is expected
