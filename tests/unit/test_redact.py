"""Redaction: personal data and secrets become typed placeholders; ordinary agent text stays."""

from __future__ import annotations

import pytest

from detectors.model import Signal, UserMessage
from detectors.redact import Redactor, iban_ok, luhn_ok, redact, redact_signal, redact_value
from detectors.session import analyze
from sinks.rows import TRAJECTORY_COLUMNS, event_rows, signal_rows, trajectory_row
from tests.builders import C, R, U, conv

# (text, expected) — the secret part replaced, its surroundings kept.
POSITIVES = [
    ("mail john.doe+trip@example.co.uk please", "mail [email] please"),
    ("Contact: MIA.LI@Mail-Server.org.", "Contact: [email]."),
    ("call +44 20 7946 0958 now", "call [phone] now"),
    ("call +1 (415) 555-2671", "call [phone]"),
    ("+33612345678", "[phone]"),
    ("my number is (415) 555-2671.", "my number is [phone]."),
    ("415-555-2671 or 415.555.2671 or 415 555 2671", "[phone] or [phone] or [phone]"),
    ("toll free 1-800-555-0199", "toll free [phone]"),
    ("card 4111 1111 1111 1111 exp 12/29", "card [card] exp 12/29"),
    ("card 5500-0000-0000-0004", "card [card]"),
    ("amex 378282246310005.", "amex [card]."),
    ("password: hunter22", "password: [secret]"),
    ("PASSWORD=correct-horse", "PASSWORD=[secret]"),
    ('{"api_key": "abcd1234efgh"}', '{"api_key": "[secret]"}'),
    ("Authorization: Bearer abcdefghijklmnop123", "Authorization: Bearer [secret]"),
    ("use key sk-proj-abcdefghijklmnopqrstuv", "use key [secret]"),
    ("sk-ant-api03-abcdefghijklmnopqrst works", "[secret] works"),
    ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "[secret]"),
    ("aws AKIAIOSFODNN7EXAMPLE here", "aws [secret] here"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "jwt [secret]"),
    ("the token 9f86d081884c7d659a2feaa0c55ad015 leaked", "the token [secret] leaked"),
    ("IBAN DE89 3704 0044 0532 0130 00 ok", "IBAN [iban] ok"),
    ("to GB82WEST12345698765432", "to [iban]"),
]

# Text an airline agent (τ-bench) says all day: none of it is personal data.
NEGATIVES = [
    "flight HAT069 costs $255 on 2024-05-20",
    "reservation ZFA04Y for user mia_li_3668",
    "payment_method_id credit_card_7815826 and gift_card_7217253",
    "order #1234567890123 total 1,234.56",  # 13 digits failing the Luhn check
    "card 4111-1111-1111-1112 was declined",  # fails Luhn
    "password reset done, the token expired",  # keywords without a value
    "the secret is patience",
    "version 1.2.3.4 and 10.0.0.1",  # IPv4 is opt-in
    "call me at 5551234",  # 7 digits, no separators: not a phone
    "weights 12 34 56 kg and 2024-05-20T10:00:00",
    "DE12 is a code",  # IBAN shape too short
    "at 10:30 on 05/20/2024, seat 12A, 3 bags",
    "",
]


@pytest.mark.parametrize(("text", "expected"), POSITIVES)
def test_redacts_personal_data_and_secrets(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", NEGATIVES)
def test_keeps_ordinary_text(text: str) -> None:
    assert redact(text) == text


def test_ipv4_is_opt_in() -> None:
    with_ip = Redactor(names=["ipv4", "email"])
    assert with_ip("from 192.168.1.20 or a@b.io, v1.2.3") == "from [ip] or [email], v1.2.3"
    assert with_ip("999.1.1.1") == "999.1.1.1"


def test_redaction_is_idempotent() -> None:
    for text, _ in POSITIVES:
        once = redact(text)
        assert redact(once) == once


@pytest.mark.parametrize(("digits", "ok"), [("4111111111111111", True), ("4111111111111112", False),
                                            ("79927398713", True), ("79927398710", False)])
def test_luhn(digits: str, ok: bool) -> None:
    assert luhn_ok(digits) is ok


def test_iban_checksum() -> None:
    assert iban_ok("GB82WEST12345698765432")
    assert not iban_ok("GB82WEST12345698765433")


def test_signal_snippet_and_string_metadata_redacted() -> None:
    signal = Signal(type="execution.failure.auth_misuse", index=3, snippet="bad password: hunter22",
                    metadata={"matched": "mail a.b@c.com", "status_code": 401})
    out = redact_signal(signal)
    assert out.snippet == "bad password: [secret]"
    assert out.metadata == {"matched": "mail [email]", "status_code": 401}
    clean = Signal(type="execution.loops.retry", index=1, snippet="Tool 'x' called 3 times")
    assert redact_signal(clean) is clean


def test_redact_value_walks_json_and_keeps_keys() -> None:
    value = {"email": "a@b.io", "n": 4, "rows": ["+44 20 7946 0958", None, {"password": "pw: x"}]}
    assert redact_value(value) == {"email": "[email]", "n": 4, "rows": ["[phone]", None, {"password": "pw: x"}]}


def test_engine_redacts_snippets_in_record_and_in_emitted_signals() -> None:
    events = conv("t", U("book it"), C("login", {"user": "x"}, call_id="c1"),
                  R("Error: 401 unauthorized: invalid password: hunter22 for jane@corp.com", call_id="c1"),
                  U("THIS IS USELESS, CALL ME AT (415) 555-2671 NOW!!!"))
    report = analyze("t", events)
    snippets = " ".join(s.snippet for s in report.signals)
    assert report.signals, "the fixture must produce signals for this test to mean anything"
    assert "hunter22" not in snippets and "jane@corp.com" not in snippets and "555-2671" not in snippets
    assert "[secret]" in snippets or "[email]" in snippets


def test_sink_rows_redact_content_only_on_request() -> None:
    event = UserMessage(trajectory_id="t", seq=0, agent_id="a1", text="reach me at jane@corp.com",
                        attributes={"phone": "+44 20 7946 0958"})
    plain = event_rows([event])[0][-1]
    hidden = event_rows([event], redact_content=True)[0][-1]
    assert "jane@corp.com" in plain
    assert "jane@corp.com" not in hidden and "7946" not in hidden
    assert '"trajectory_id":"t"' in hidden and '"agent_id":"a1"' in hidden and "[email]" in hidden


def test_sink_rows_re_redact_old_records() -> None:
    report = analyze("t", conv("t", U("hello")))
    report.signals = [Signal(type="interaction.disengagement.quit", index=0, snippet="mail x@y.io")]
    record = TRAJECTORY_COLUMNS.index("record")
    assert "x@y.io" in trajectory_row(report)[record]
    assert "x@y.io" not in trajectory_row(report, redact_content=True)[record]
    assert signal_rows(report, redact_content=True)[0][10] == "mail [email]"


# ---- edges by value (issue 17: mutation survivors)
def _iban(country: str, bban: str) -> str:
    numeric = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - numeric % 97:02d}{bban}"


def test_iban_length_bounds_15_to_34() -> None:
    assert iban_ok("NO9386011117947") is True  # 15, the shortest country format
    assert iban_ok(_iban("NO", "8601111794")) is False  # 14 characters, valid checksum
    assert iban_ok(_iban("XX", "1" * 30)) is True  # 34
    assert iban_ok(_iban("XX", "1" * 31)) is False  # 35, valid checksum


def test_phone_digit_count_bounds_8_to_15() -> None:
    from detectors.redact import phone_ok
    assert [phone_ok("1" * n) for n in (7, 8, 15, 16)] == [False, True, True, False]


def test_redact_value_flattens_exactly_below_max_depth() -> None:
    from detectors.redact import MAX_DEPTH
    assert MAX_DEPTH == 32
    nested: object = "mail a@b.io"
    for _ in range(40):
        nested = [nested]
    out = redact_value({"k": nested})["k"]  # the dict is level 0, the outer list level 1
    for _ in range(31):
        assert isinstance(out, list) and len(out) == 1
        out = out[0]
    assert out == "[" * 9 + '"mail [email]"' + "]" * 9  # level 32: the rest as redacted JSON text
    assert redact_value(nested, depth=32) == "[" * 40 + '"mail [email]"' + "]" * 40


def test_custom_rules_without_needs_and_with_text_after_the_value() -> None:
    from detectors.redact import Rule
    redactor = Redactor(rules=[Rule(name="id", placeholder="[id]", pattern=r"id=(?P<VALUE>\d+);"),
                               Rule(name="code", placeholder="[code]", pattern=r"code-\d+", needs=("code-",))])
    assert redactor("see id=42; and id=7; code-12") == "see id=[id]; and id=[id]; [code]"
    assert redactor("id=1;") == "id=[id];"
    assert redactor("no match here") == "no match here"


def test_the_memo_of_short_texts_is_bounded_and_long_texts_are_not_memoised() -> None:
    from detectors.redact import MEMO_CHARS, MEMO_SIZE, Redactor

    redactor = Redactor()
    edge = "a" * MEMO_CHARS
    assert redactor(edge) == edge and edge in redactor._memo  # up to MEMO_CHARS: memoised
    longer = "b" * (MEMO_CHARS + 1)
    assert redactor(longer) == longer and longer not in redactor._memo
    assert redactor("") == "" and "" not in redactor._memo
    for i in range(MEMO_SIZE + 10):
        assert redactor(f"call {i} at jane@example.com") == f"call {i} at [email]"
        assert len(redactor._memo) <= MEMO_SIZE
    assert len(redactor._memo) < MEMO_SIZE  # cleared when full, then refilled
