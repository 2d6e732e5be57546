"""execution.failure.*: which tool results are errors, which type they get, and who is blamed."""

from __future__ import annotations

from typing import Any

import pytest

from detectors.environment.exhaustion import ExhaustionDetector
from detectors.execution.failure import FailureDetector, snippet
from detectors.model import Event, Signal
from detectors.session import Engine, analyze
from tests.builders import A, C, R, U, conv

ENGINE = Engine([FailureDetector(), ExhaustionDetector()])


def run(events: list[Event]) -> list[Signal]:
    return analyze("t", events, engine=ENGINE).signals


def one_result(text: str, **kw: Any) -> list[Signal]:
    return run(conv("t", C("tool_x", {"a": 1}, call_id="c1"), R(text, call_id="c1", **kw)))


def short(signal: Signal) -> str:
    return signal.type.rsplit(".", 1)[1]


@pytest.mark.parametrize(("text", "expected"), [
    ("Error: validation failed - expected integer got string", "invalid_args"),
    ("Error: missing required parameter 'dates'", "invalid_args"),
    ("Invalid JSON at line 1", "invalid_args"),
    ("TypeError: expected str, got int", "invalid_args"),
    ("Error: unknown function 'lookup_user'", "tool_not_found"),
    ("Error: tool 'web_search' not found", "tool_not_found"),
    ("bash: jq: command not found", "tool_not_found"),
    ("HTTP 401 Unauthorized", "auth_misuse"),
    ("Error: permission denied for /etc/shadow", "auth_misuse"),
    ("must call begin first", "state_error"),
    ("Error: reservation already cancelled", "state_error"),
    ("unknown field 'colour'", "bad_query"),
    ("search error: invalid operator", "bad_query"),
    ("Error: no such table: users", "bad_query"),
    # real τ-bench airline tool errors
    ("Error: payment amount does not add up, total price is 375, but paid 299", "invalid_args"),
    ("Error: flight HAT030 not available on date 2024-05-13", "state_error"),
    ("Error: gift card balance is not enough", "state_error"),
    ("Error: not enough seats on flight HAT290", "state_error"),
    ("Error: certificate cannot be used to update reservation", "state_error"),
    ("Error: user not found", "bad_query"),
    ("Error: payment method certificate_7504069 not found", "bad_query"),
])
def test_error_text_gets_one_failure_type(text: str, expected: str) -> None:
    signals = one_result(text)
    assert [short(s) for s in signals] == [expected]
    assert signals[0].type.startswith("execution.failure.")


@pytest.mark.parametrize(("status", "text", "expected"), [
    (401, "nope", "auth_misuse"),
    (403, "nope", "auth_misuse"),
    (404, "not here", "bad_query"),
    (404, "unknown function 'frobnicate'", "tool_not_found"),
    (409, "nope", "state_error"),
    (400, "nope", "invalid_args"),
    (422, "Error: unknown field 'x'", "bad_query"),
    (127, "sh: 1: foo: not found", "tool_not_found"),  # exit code table beats a weak text match
    (126, "cannot execute", "auth_misuse"),
    (1, "cat: x.txt: Permission denied", "auth_misuse"),  # unmapped exit code: the text decides
    (2, "usage: grep [OPTION]... PATTERNS", "invalid_args"),
])
def test_status_code_decides_failure_type(status: int, text: str, expected: str) -> None:
    signals = one_result(text, status_code=status)
    assert [short(s) for s in signals] == [expected]
    assert signals[0].metadata["status_code"] == status


@pytest.mark.parametrize("text", [
    '{"timeout": 30}', "no conflict found", "server error rates are low",
    "The date does not match the format described below; values must be a string.",
    "Transfer successful", "299.0", "", "[]", '[{"error": "x"}]', "Error rates are low this week",
    '{"reservation_id": "ABC", "status": "confirmed"}',
])
def test_flaw20_successful_results_are_not_scanned(text: str) -> None:
    assert one_result(text) == []


@pytest.mark.parametrize(("kwargs", "text"), [
    ({"status_code": 200}, "Error: looks like an error but the status says OK"),
    ({"status_code": 0}, "Error: exit code 0"),
    ({"is_error": False}, "permission denied"),
])
def test_producer_success_verdict_wins(kwargs: dict[str, Any], text: str) -> None:
    assert one_result(text, **kwargs) == []


def test_is_error_flag_without_pattern_is_unclassified_invalid_args() -> None:
    [signal] = one_result("the thing did not go as planned", is_error=True)
    assert short(signal) == "invalid_args"
    assert signal.metadata["unclassified"] is True
    assert signal.confidence < 0.5


def test_json_error_object_is_an_error_and_its_code_counts() -> None:
    [signal] = one_result('{"error": {"message": "record not found", "code": 404}}')
    assert short(signal) == "bad_query"
    assert signal.metadata["status_code"] == 404
    [signal] = one_result('{"status": "error", "message": "invalid id"}')
    assert short(signal) == "bad_query"


def test_c18_failure_mix() -> None:
    events = conv("c18", U("set up the account"),
                  C("create_account", {"age": "ten"}), R("Error: validation failed - expected integer got string"),
                  C("lookup_user", {}), R("Error: unknown function 'lookup_user'"),
                  C("read_vault", {}), R("HTTP 401 Unauthorized"),
                  C("commit", {}), R("must call begin first"),
                  C("search", {"q": "x"}), R("unknown field 'colour'"), R("search error: invalid operator"))
    got = [(short(s), s.index, s.tool, s.metadata["call_index"]) for s in run(events)]
    assert got == [("invalid_args", 2, "create_account", 1), ("tool_not_found", 4, "lookup_user", 3),
                   ("auth_misuse", 6, "read_vault", 5), ("state_error", 8, "commit", 7),
                   ("bad_query", 10, "search", 9), ("bad_query", 11, "search", 9)]


def test_flaw18_c25_parallel_calls_blame_the_call_by_call_id() -> None:
    events = conv("c25", U("Book a hotel in Rome and check the weather"),
                  C("book_hotel", '{"city":"Rome"}', call_id="a"), C("get_weather", '{"city":"Rome"}', call_id="b"),
                  R("Error: missing required parameter 'dates'", call_id="a"), R("22C, clear", call_id="b"),
                  A("I need your dates."), U("That's not what I asked\njust the weather"))
    [signal] = run(events)
    assert (signal.type, signal.index, signal.tool) == ("execution.failure.invalid_args", 3, "book_hotel")
    assert signal.metadata["call_index"] == 1
    assert signal.metadata["matched"].lower() == "missing required"


def test_flaw18_result_answering_the_earlier_call_out_of_order() -> None:
    events = conv("t", C("get_weather", {}, call_id="w"), C("book_hotel", {}, call_id="h"),
                  R("permission denied", call_id="w"))
    [signal] = run(events)
    assert (signal.tool, signal.metadata["call_index"]) == ("get_weather", 0)


def test_result_without_any_call_is_credited_to_unknown_tool() -> None:
    [signal] = run(conv("t", R("Error: unknown function 'x'")))
    assert signal.tool == "unknown"
    assert "call_index" not in signal.metadata


def test_plain_text_pattern_must_start_near_the_head() -> None:
    text = "Here is the summary of the page you asked for, it is a fine page. " * 2 + "permission denied"
    assert one_result(text) == []
    assert one_result("permission denied while reading the file") != []


def test_snippet_is_bounded_and_contains_the_match() -> None:
    text = "Error: " + "x" * 300 + " missing required parameter 'dates' " + "y" * 300
    [signal] = one_result(text)
    assert len(signal.snippet) <= 130
    assert "missing required" in signal.snippet
    assert signal.snippet.startswith("...") and signal.snippet.endswith("...")
    assert snippet("short", -1, -1) == "short"


def test_lexicon_patterns_are_lowercase_without_capturing_groups() -> None:
    import re

    from detectors.execution.patterns import TIERS, default_table, load_lexicon

    for name in ("execution.toml", "environment.toml"):
        data = load_lexicon(name)
        for short in data["precedence"]:
            for tier in TIERS:
                for pattern in data[short].get(tier, []):
                    assert re.sub(r"\\.", "", pattern) == re.sub(r"\\.", "", pattern).lower(), pattern
                    assert re.compile(pattern).groups == 0, pattern
    assert default_table().rules  # the combined regex compiles


def test_non_ascii_text_whose_lowercase_changes_length_still_classifies() -> None:
    [signal] = one_result("İstanbul API: Permission denied")
    assert short(signal) == "auth_misuse"
    assert signal.metadata["matched"] == "Permission denied"
