"""execution.consistency.*: do the agent's actions agree with what the user allowed, what the
conversation holds, and what the agent says? An EXTENSION of the Signals taxonomy (not one of the
paper's 25 types), with the same contract: incremental (work per new event), bounded msgspec state,
stable dotted names. Label-free: nothing here reads a reward, a task's ground truth or a tool schema.

- unconfirmed_action: a state-changing call (``toolnames.is_mutating``) with no explicit user
  confirmation ("yes", "go ahead", "please proceed" ...) since the agent asked for one, or right
  after the user declined. A consent window opens on an assistant message that asks for a go-ahead
  and on the first user message after a state-changing call (each action needs its own consent);
  calls in the same agent turn share one confirmation. An action the agent never proposed is not
  judged by default (``require_proposal=False`` judges it too: a user's own request is then not
  consent; on the dev data that variant did not hold in every file).
- ungrounded_argument: a value in a state-changing call's arguments (an id, amount, date, item code:
  a token with a digit, >= 3 characters) that appears nowhere earlier in the conversation (user and
  assistant text, tool results, earlier call arguments). Earlier content is kept as a bounded set of
  32-bit hashes of such tokens; once the set is full the check stops (it could no longer tell).
- unbacked_claim: the assistant reports an outcome ("I have cancelled ...", "has been booked") that no
  successful state-changing call of a matching verb backs (lexicons/consistency.toml ``[backing]``).
- silent_action: a state-changing call succeeded and no later assistant message reports an outcome
  (emitted at close, at the call's result).
- ignored_error: a tool error or empty result that the agent carries on past: the next assistant
  message neither acknowledges a problem nor follows a successful retry with the same tool or one of
  the same verb (``find_user_id_by_email`` failing, then ``find_user_id_by_name_zip`` working).

Not every type is on by default: ``DEFAULT_ENABLED`` holds the ones that held on the dev data
(bench/bench_evidence.py measures each; docs/consistency.md has the figures).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import Any, ClassVar, Final

import msgspec

from detectors.base import CloseView, EventView
from detectors.execution.patterns import load_lexicon
from detectors.model import Signal, ToolCall, ToolResult
from detectors.text import Text, clause_breaks
from detectors.toolnames import is_mutating, tool_verb
from detectors.tools import canonical_arguments, result_is_empty, result_is_error

KINDS: Final = ("unconfirmed_action", "ungrounded_argument", "unbacked_claim", "silent_action", "ignored_error")
# On by default: the types whose failure rate when firing was above the base rate in each of the
# three dev files (bench/bench_evidence.py). The others stay available (``enabled=``), off.
DEFAULT_ENABLED: Final[frozenset[str]] = frozenset({"unconfirmed_action", "silent_action"})
MAX_SEEN: Final = 2048  # hashed value tokens remembered per trajectory
MAX_VERBS: Final = 16
MAX_LEAVES: Final = 64  # argument values checked per call
MAX_TEXT: Final = 20_000  # characters of one event indexed / scanned (head kept)

_LEX = load_lexicon("consistency.toml")
_CONSENT = _LEX["consent"]
_CONFIRM_OPENERS = frozenset(_CONSENT["confirm_openers"])
_DECLINE_OPENERS = frozenset(_CONSENT["decline_openers"])
_NEGATORS = frozenset(_CONSENT["negators"])
_NOT_DECLINES = tuple(f" {p} " for p in _CONSENT["not_declines"])
_UNNEGATABLE = frozenset({"yes", "yeah", "yep", "yup", "yea", "affirmative"})
_MARKERS = re.compile(" (?:(?P<decline>{})|(?P<confirm>{}))(?= )".format(
    "|".join(re.escape(p) for p in sorted(_CONSENT["decline_phrases"], key=len, reverse=True)),
    "|".join(re.escape(p) for p in sorted((*_CONSENT["confirm_tokens"], *_CONSENT["confirm_phrases"]),
                                          key=len, reverse=True))))
# A marker starts at a space before a token that is the first word of one of its phrases.
_MARKER_STARTS = frozenset(phrase.split(" ")[0] for phrase in (
    *_CONSENT["decline_phrases"], *_CONSENT["confirm_tokens"], *_CONSENT["confirm_phrases"]))
_PROPOSAL = re.compile(_LEX["assistant"]["proposal"])
_CLAIM = re.compile(_LEX["assistant"]["claim"])
_NOT_A_CLAIM = re.compile(_LEX["assistant"]["not_a_claim"])
_ACK = re.compile(_LEX["assistant"]["acknowledge"])
_BACKING: Final[dict[str, frozenset[str]]] = {word: frozenset(verbs) for word, verbs in _LEX["backing"].items()}
_KNOWN_VERBS: Final = frozenset().union(*_BACKING.values())
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")

# Value tokens: ASCII letters (lowercased), digits and _ # @ . - ; everything else separates tokens.
_TOKEN_CHARS = b"abcdefghijklmnopqrstuvwxyz0123456789_#@.-"
_TABLE = bytes((c + 32 if 65 <= c <= 90 else c) if (c + 32 if 65 <= c <= 90 else c) in _TOKEN_CHARS else 32
               for c in range(256))
_DIGIT = re.compile(rb"\d")
_NUMBER = re.compile(rb"\d+(?:\.\d+)?")
# Process-wide speed caches (they never change a result): tokens known to carry no value, and the
# hash of each value token. Bounded: cleared when full.
_WORDS: set[bytes] = set()
_HASHES: dict[bytes, int] = {}
_CACHE_MAX: Final = 200_000


class ConsistencyState(msgspec.Struct, kw_only=True, array_like=True):
    confirmed: bool = False  # an explicit confirmation since the consent window opened
    declined: bool = False  # ... or the latest answer declined
    proposed: bool = False  # the agent asked for a go-ahead in this window
    acted: bool = False  # a state-changing call since the last user message
    talked: bool = False  # a user message has been seen (no user, no consent to ask, no one to tell)
    seen: set[int] = msgspec.field(default_factory=set)  # hashes of value tokens seen so far
    saturated: bool = False  # `seen` filled up: grounding can no longer be judged
    verbs: list[str] = []  # verbs of successful state-changing calls
    unreported: int = -1  # seq of a successful state change no assistant message has reported yet
    unreported_tool: str = ""
    problem: int = -1  # seq of an error / empty result not yet acknowledged
    problem_tool: str = ""
    problem_kind: str = ""  # "error" | "empty"


class ConsistencyDetector:
    name: ClassVar[str] = "execution.consistency"
    kinds: ClassVar[frozenset[str]] = frozenset({"user", "assistant", "tool_call", "tool_result"})
    state_type: ClassVar[type[msgspec.Struct]] = ConsistencyState

    def __init__(self, *, enabled: frozenset[str] | None = None, require_proposal: bool = True,
                 ground_in_assistant_text: bool = True) -> None:
        self.enabled = DEFAULT_ENABLED if enabled is None else frozenset(enabled)
        unknown = self.enabled - set(KINDS)
        if unknown:
            raise ValueError(f"unknown consistency signals: {sorted(unknown)}")
        self.require_proposal = require_proposal
        self.ground_in_assistant_text = ground_in_assistant_text

    def on_event(self, state: ConsistencyState, view: EventView) -> list[Signal]:
        kind = view.kind
        if kind == "tool_result":
            return self._result(state, view)
        if kind == "tool_call":
            return self._call(state, view)
        if kind == "user":
            self._user(state, view)
            return []
        return self._assistant(state, view)

    def on_close(self, state: ConsistencyState, close: CloseView) -> list[Signal]:
        if state.unreported < 0 or "silent_action" not in self.enabled:
            return []
        tool = state.unreported_tool
        return [_signal("silent_action", state.unreported, tool, 0.5,
                        f"'{tool}' changed state and no later assistant message reports an outcome")]

    # -- events --------------------------------------------------------------------------
    def _user(self, state: ConsistencyState, view: EventView) -> None:
        state.talked = True
        if state.acted:  # a new request after an action: the next action needs its own consent
            state.confirmed = state.declined = state.proposed = state.acted = False
        verdict = consent(view.text)
        if verdict == "confirm":
            state.confirmed, state.declined = True, False
        elif verdict == "decline":
            state.confirmed, state.declined = False, True
        if "ungrounded_argument" in self.enabled:
            _index(state, view.event.text)  # type: ignore[union-attr]

    def _assistant(self, state: ConsistencyState, view: EventView) -> list[Signal]:
        text = view.event.text[:MAX_TEXT].lower()  # type: ignore[union-attr]
        out: list[Signal] = []
        enabled = self.enabled
        wants_claim = "unbacked_claim" in enabled or (state.problem >= 0 and "ignored_error" in enabled)
        claim = first_claim(text) if wants_claim else None
        if claim is not None and "unbacked_claim" in enabled and not _backed(state.verbs, claim[1]):
            out.append(_signal("unbacked_claim", view.index, "", 0.6, _snip(claim[0]), outcome=claim[1]))
        if state.problem >= 0:
            if "ignored_error" in self.enabled and _ACK.search(text) is None:
                tool = state.problem_tool
                out.append(_signal("ignored_error", view.index, tool, 0.6,
                                   f"'{tool}' gave {'an error' if state.problem_kind == 'error' else 'an empty result'}"
                                   f" and the reply does not mention it", result_index=state.problem,
                                   problem=state.problem_kind, claims_success=claim is not None))
            state.problem, state.problem_tool, state.problem_kind = -1, "", ""
        if state.unreported >= 0 and _reports_outcome(text, claim, wants_claim):
            state.unreported, state.unreported_tool = -1, ""
        # A go-ahead asked for again while one is pending changes nothing: not searched for.
        pending = state.proposed and not state.confirmed and not state.declined
        if not pending and _may_propose(text) and _at_word_start(_PROPOSAL_BODY, text):  # a new go-ahead is asked for
            state.confirmed = state.declined = False
            state.proposed = True
        if self.ground_in_assistant_text and "ungrounded_argument" in self.enabled:
            _index(state, text)
        return out

    def _call(self, state: ConsistencyState, view: EventView) -> list[Signal]:
        event = view.event
        assert isinstance(event, ToolCall)
        out: list[Signal] = []
        tool = event.tool
        if is_mutating(tool):
            judged = state.declined or state.proposed or not self.require_proposal
            if "unconfirmed_action" in self.enabled and not state.confirmed and judged and state.talked:
                reason = "after_decline" if state.declined else "no_confirmation"
                text = (f"'{tool}' called right after the user declined" if state.declined
                        else f"'{tool}' called with no explicit user confirmation")
                out.append(_signal("unconfirmed_action", view.index, tool, 0.6, text, reason=reason,
                                   proposed=state.proposed))
            if "ungrounded_argument" in self.enabled and not state.saturated:
                missing = ungrounded(state.seen, event.arguments)
                if missing:
                    path, value = missing[0]
                    out.append(_signal("ungrounded_argument", view.index, tool, 0.6,
                                       f"'{tool}' argument {path} = {value} appears nowhere earlier",
                                       argument=path, ungrounded_values=len(missing)))
            state.acted = True
        if "ungrounded_argument" in self.enabled and view.call is not None:
            _index(state, view.call.args_key)
        return out

    def _result(self, state: ConsistencyState, view: EventView) -> list[Signal]:
        event = view.event
        assert isinstance(event, ToolResult)
        tool = view.tool
        error = result_is_error(event)
        empty = not error and result_is_empty(event)
        if error or empty:
            if state.problem < 0:
                state.problem, state.problem_tool, state.problem_kind = view.index, tool, "error" if error else "empty"
        elif state.problem >= 0 and (tool == state.problem_tool or tool_verb(tool) == tool_verb(state.problem_tool)):
            # a retry of that tool, or of the same kind (find_user_id_by_email -> ..._by_name_zip), worked
            state.problem, state.problem_tool, state.problem_kind = -1, "", ""
        if not error and is_mutating(tool):
            verb = tool_verb(tool)
            if verb not in state.verbs and len(state.verbs) < MAX_VERBS:
                state.verbs.append(verb)
            if state.unreported < 0 and state.talked:  # someone to tell: a user took part
                state.unreported, state.unreported_tool = view.index, tool
        if "ungrounded_argument" in self.enabled:
            _index(state, event.result)
        return []


# -- consent ---------------------------------------------------------------------------------
def consent(text: Text) -> str:
    """"confirm", "decline" or "" for a user message: its last consent marker wins. One regex pass
    over the space-joined tokens (a decline phrase is tried first where both start, so "dont want
    to proceed" is one decline); clause breaks only when a negator stands near a confirm marker."""
    tokens = text.tokens
    if not tokens:
        return ""
    padded = f" {' '.join(tokens)} "
    verdict = ""
    first = tokens[0]
    if first in _CONFIRM_OPENERS:
        verdict = "confirm"
    elif first in _DECLINE_OPENERS and not padded.startswith(_NOT_DECLINES):
        verdict = "decline"
    for match in _markers(tokens, padded):
        if match.lastgroup == "decline":
            verdict = "decline"
        elif not _negated(text, padded, match.start(), match.group()):
            verdict = "confirm"
    return verdict


def _markers(tokens: tuple[str, ...], padded: str) -> Iterator[re.Match[str]]:
    """``_MARKERS.finditer(padded)``, tried only at the spaces before tokens that can start a
    marker (a match elsewhere is impossible: a marker's first word is a whole token)."""
    position, resume = 0, 0  # the space before the current token; where the last match ended
    for token in tokens:
        if position >= resume and token in _MARKER_STARTS:
            match = _MARKERS.match(padded, position)
            if match is not None:
                resume = match.end()
                yield match
        position += len(token) + 1


def _negated(text: Text, padded: str, at: int, marker: str) -> bool:
    """A negator among the 3 tokens before the marker, in the same clause ("don't proceed"; but not
    "No longer needed. Yes"). A plain "yes" is never negated."""
    if marker.strip() in _UNNEGATABLE:
        return False
    position = padded.count(" ", 0, at)  # token index of the marker's first token
    before = text.tokens[max(0, position - 3):position]
    if _NEGATORS.isdisjoint(before):
        return False
    breaks = clause_breaks(text)
    start = max(0, position - 3)
    for back in range(position - 1, start - 1, -1):
        if back in breaks:
            start = back + 1
            break
    return not _NEGATORS.isdisjoint(text.tokens[start:position])


def _may_propose(text: str) -> bool:
    """Cheap C-level prefilter for the proposal regex: every proposal has one of these."""
    return "?" in text or "confirm" in text or "proceed" in text or "go ahead" in text or "(yes" in text


# -- claims ----------------------------------------------------------------------------------
def first_claim(text: str) -> tuple[str, str] | None:
    """(sentence, outcome word) of the first sentence reporting a completed action, if any."""
    if _CLAIM.search(text) is None:
        return None
    for sentence in _SENTENCE.split(text):
        match = _CLAIM.search(sentence)
        if match is not None and _NOT_A_CLAIM.search(sentence) is None:
            return sentence.strip(), match.group("verb")
    return None


def _backed(verbs: list[str], outcome: str) -> bool:
    backing = _BACKING.get(outcome)
    if not verbs:
        return False
    if backing is None or not any(verb in _KNOWN_VERBS for verb in verbs):
        return True  # an outcome word we cannot map, or tools we do not know: any success backs it
    return any(verb in backing for verb in verbs)


_REPORT_WORDS = re.compile(r"\b(?:done|success\w*|complete\w*|confirm\w*|cancell?ed|booked|updated|modified|changed|"
                           r"refunded|processed|exchanged|returned|issued|sent|added|removed|placed|submitted|"
                           r"has\s+been|have\s+been|is\s+now|are\s+now|all\s+set)\b")


def _reports(text: str) -> bool:
    return _at_word_start(_REPORT_BODY, text)


def _body(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """A ``\\b(?:...)`` pattern without its leading word boundary (see ``_at_word_start``)."""
    if not pattern.pattern.startswith("\\b(?:") or pattern.flags & re.IGNORECASE:
        raise ValueError(f"expected a case-sensitive \\b(?:...) pattern, got {pattern.pattern!r}")
    return re.compile(pattern.pattern[2:])


_PROPOSAL_BODY = _body(_PROPOSAL)
_REPORT_BODY = _body(_REPORT_WORDS)


def _at_word_start(body: re.Pattern[str], text: str) -> bool:
    """``re.search(r"\\b" + body, text) is not None``, faster: without the leading boundary every
    alternative starts with a literal, so ``re`` skips to the characters that can start one in C;
    the boundary is then checked where the body matched (rarely more than once)."""
    position = 0
    while (match := body.search(text, position)) is not None:
        start = match.start()
        if _is_word(text[start - 1:start]) != _is_word(text[start:start + 1]):
            return True
        position = start + 1
    return False


def _is_word(char: str) -> bool:
    """``re``'s word character (``\\w`` on str); False for "" (before the start, past the end)."""
    return char.isalnum() or char == "_"


def _reports_outcome(text: str, claim: tuple[str, str] | None, claim_searched: bool) -> bool:
    """A claim or a report word in the message. When the claim was not searched for already, the
    cheaper report-word search goes first and the claim is only looked for when it finds none."""
    if claim_searched:
        return claim is not None or _reports(text)
    return _reports(text) or first_claim(text) is not None


# -- grounding -------------------------------------------------------------------------------
def _learn(token: bytes) -> int:
    """The hash of a value token, or 0 when the token carries no value (no digit, too short)."""
    core = token.strip(b".-#")
    if _DIGIT.search(core) is not None:
        if _NUMBER.fullmatch(core) is not None and b"." in core:
            core = core.rstrip(b"0").rstrip(b".")  # 150.00 == 150
        if len(core) >= 3:
            value = zlib.crc32(core) or 1
            if len(_HASHES) >= _CACHE_MAX:
                _HASHES.clear()
            _HASHES[token] = value
            return value
    if len(_WORDS) >= _CACHE_MAX:
        _WORDS.clear()
    _WORDS.add(token)
    return 0


def value_hashes(text: str) -> set[int]:
    """Hashes of the value tokens in a text (ids, amounts, dates, codes)."""
    tokens = set(text[:MAX_TEXT].encode("utf-8", "replace").translate(_TABLE).split())
    tokens -= _WORDS
    get = _HASHES.get
    hashes = {get(token) or _learn(token) for token in tokens}
    hashes.discard(0)
    return hashes


def _index(state: ConsistencyState, text: str) -> None:
    if state.saturated or not text:
        return
    hashes = value_hashes(text)
    seen = state.seen
    hashes -= seen
    if len(seen) + len(hashes) > MAX_SEEN:
        state.saturated = True
        return
    seen |= hashes


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _leaves(item, f"{path}[{position}]")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        yield path, repr(value)
    elif isinstance(value, str):
        yield path, value


def ungrounded(seen: set[int], arguments: Any) -> list[tuple[str, str]]:
    """(argument path, value) of each argument value whose value tokens were never seen before."""
    out: list[tuple[str, str]] = []
    for count, (path, value) in enumerate(_leaves(canonical_arguments(arguments))):
        if count >= MAX_LEAVES:
            break
        hashes = value_hashes(value)
        if hashes and not hashes <= seen:
            out.append((path or "value", value[:60]))
    return out


# -- output ----------------------------------------------------------------------------------
def _snip(text: str) -> str:
    return text if len(text) <= 160 else text[:157] + "..."


def _signal(kind: str, index: int, tool: str, confidence: float, snippet: str, **metadata: object) -> Signal:
    return Signal(type=f"execution.consistency.{kind}", index=index, confidence=confidence, snippet=snippet,
                  tool=tool, metadata={"consistency_type": kind, "extension": True, **metadata})
