"""Personal data and secrets -> typed placeholders (``[email]``, ``[phone]``, ``[card]``, ``[secret]``...).

The rules are data (detectors/lexicons/redact.toml), compiled into ONE regex alternation: each rule
is a named group, tried in file order at every position, so one ``sub`` pass does all of them
(only the rules the text can match take part: see ``Rule.needs``). A
rule may carry a check (Luhn for cards, mod-97 for IBANs, a digit count for phones); a match that
fails it is left as it is. The engine redacts every signal's snippet before it is stored or
emitted (detectors/session.py ``_record``); full event content is redacted only on request (sinks).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable
from importlib.resources import files
from typing import Any, Final

import msgspec

from detectors.model import Signal

_VALUE: Final = re.compile(r"\(\?P<VALUE\d*>")
_DIGIT: Final = re.compile(r"[0-9]")
_json: Final = msgspec.json.Encoder()
MAX_DEPTH: Final = 32  # JSON levels walked by redact_value; deeper content is redacted as text
# Short texts recur (signal metadata such as "exact", "human", a tool name): their redaction is
# memoised per redactor. Bounded: cleared when full.
MEMO_CHARS: Final = 64
MEMO_SIZE: Final = 4096


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    code = text.replace(" ", "")
    if not 15 <= len(code) <= 34:
        return False
    moved = code[4:] + code[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def phone_ok(digits: str) -> bool:
    return 8 <= len(digits) <= 15


CHECKS: Final[dict[str, Callable[[str], bool]]] = {
    "luhn": lambda text: luhn_ok(_digits(text)),
    "iban": iban_ok,
    "phone": lambda text: phone_ok(_digits(text)),
}


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


class Rule(msgspec.Struct, frozen=True):
    name: str
    placeholder: str
    pattern: str
    check: str = ""
    optional: bool = False
    needs: tuple[str, ...] = ()  # lowercase substrings, one of which every match holds ("digit": any digit)


def load_rules() -> list[Rule]:
    data = tomllib.loads(files("detectors").joinpath("lexicons/redact.toml").read_text(encoding="utf-8"))
    return msgspec.convert(data["rule"], list[Rule])


class Redactor:
    """One compiled pass over a text; ``names`` picks rules (default: every non-optional one).

    The alternation is compiled for the rules whose ``needs`` the text holds (cached per subset),
    so text without digits, '@' or secret keywords costs a few substring tests and no regex pass.
    """

    def __init__(self, *, names: Iterable[str] | None = None, rules: list[Rule] | None = None) -> None:
        known = rules if rules is not None else load_rules()
        chosen = set(names) if names is not None else {r.name for r in known if not r.optional}
        self.rules = [r for r in known if r.name in chosen]
        self._patterns: dict[tuple[int, ...], re.Pattern[str]] = {}
        # Each distinct need tested once per text, not once per rule that lists it.
        by_need: dict[str, set[int]] = {}
        for position, rule in enumerate(self.rules):
            for need in rule.needs:
                by_need.setdefault(need, set()).add(position)
        self._unconditional = frozenset(i for i, rule in enumerate(self.rules) if not rule.needs)
        self._digit_rules = frozenset(by_need.pop("digit", ()))
        self._needs = tuple((need, frozenset(positions)) for need, positions in by_need.items())
        self._memo: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        """``text`` with every match replaced by its rule's placeholder."""
        if not text or len(text) > MEMO_CHARS:
            return self._redact(text)
        memo = self._memo
        redacted = memo.get(text)
        if redacted is None:
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            redacted = memo[text] = self._redact(text)
        return redacted

    def _redact(self, text: str) -> str:
        if not text:
            return text
        active = self._active(text)
        if not active:
            return text
        return self._pattern(active).sub(self._replace, text)

    def _active(self, text: str) -> tuple[int, ...]:
        """Positions (in order) of the rules one of whose ``needs`` the text holds."""
        found = set(self._unconditional)
        if _DIGIT.search(text):
            found |= self._digit_rules
        lowered = text.lower()
        for need, positions in self._needs:
            if need in lowered:
                found |= positions
        return tuple(sorted(found))

    def _pattern(self, active: tuple[int, ...]) -> re.Pattern[str]:
        pattern = self._patterns.get(active)
        if pattern is None:
            pattern = re.compile("|".join(_group(i, self.rules[i]) for i in active))
            self._patterns[active] = pattern
        return pattern

    def _replace(self, match: re.Match[str]) -> str:
        name = match.lastgroup or ""
        rule = self.rules[int(name[1:])]
        found = match.group(name)
        if rule.check and not CHECKS[rule.check](found):
            return found
        values = [g for g, v in match.groupdict().items() if v is not None and g.startswith(f"v{name[1:]}_")]
        if not values:
            return rule.placeholder
        start, end = match.span(values[0])
        whole = match.start()
        return found[:start - whole] + rule.placeholder + found[end - whole:]


def _group(position: int, rule: Rule) -> str:
    counter = iter(range(100))
    body = _VALUE.sub(lambda _: f"(?P<v{position}_{next(counter)}>", rule.pattern)
    return f"(?P<r{position}>{body})"


DEFAULT_REDACTOR: Final = Redactor()
redact: Final = DEFAULT_REDACTOR


def redact_signal(signal: Signal, redactor: Redactor = DEFAULT_REDACTOR) -> Signal:
    """The signal with its snippet and top-level string metadata redacted (itself when unchanged)."""
    snippet = redactor(signal.snippet)
    metadata = {k: redactor(v) if isinstance(v, str) else v for k, v in signal.metadata.items()}
    if snippet == signal.snippet and metadata == signal.metadata:
        return signal
    return msgspec.structs.replace(signal, snippet=snippet, metadata=metadata)


def redact_value(value: Any, redactor: Redactor = DEFAULT_REDACTOR, *, depth: int = 0) -> Any:
    """Every string inside a JSON-like value redacted (keys kept). Below ``MAX_DEPTH`` levels the
    rest is flattened to its redacted JSON text, so hostile nesting cannot exhaust the stack."""
    if isinstance(value, str):
        return redactor(value)
    if depth >= MAX_DEPTH and isinstance(value, dict | list):
        return redactor(_json.encode(value).decode())
    if isinstance(value, dict):
        return {k: redact_value(v, redactor, depth=depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, redactor, depth=depth + 1) for v in value]
    return value
