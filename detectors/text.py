"""Text normalisation and phrase finding, shared by every interaction detector.

One normalisation per message (NFKC, casefold, quotes folded, whitespace collapsed, apostrophes
dropped from tokens so "that's", "that’s" and "thats" are the same token) and one automaton pass
over the tokens (see detectors/lexicon.py). Clause breaks and the surface spans of tokens are only
computed when a detector needs them (negation scope, snippets), once per message.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from itertools import compress

import msgspec

MAX_CHARS = 2000
_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_CLAUSE_END = frozenset(",.;:!?")
# Folded one by one with str.replace, each only when present: str.translate with a dict looks up
# every character of a non-ASCII text and raises (and clears) a KeyError for each one it does not
# map, which cost a sixth of the engine's instructions. No replacement is itself folded, so the
# order does not matter and the result is exactly the translation.
_QUOTES = (
    ("\u2019", "'"), ("\u2018", "'"), ("\u02bc", "'"), ("\u00b4", "'"), ("\u201c", '"'), ("\u201d", '"'),
    ("\u2013", "-"), ("\u2014", "-"),
)


class Text(msgspec.Struct, frozen=True):
    raw: str  # original text, length-capped (head and tail kept)
    tokens: tuple[str, ...]  # words with boundary punctuation and apostrophes removed

    @property
    def norm(self) -> str:
        """NFKC, casefolded, quotes folded, whitespace collapsed (computed when asked: no detector
        reads it on the per-event path)."""
        return " ".join(fold(self.raw).casefold().split())


class PhraseHit(msgspec.Struct, frozen=True, array_like=True):
    lexicon: str  # e.g. "misalignment.correction"
    phrase: str  # the canonical (normalised) phrase
    start: int  # token offsets [start, end)
    end: int
    score: float = 1.0  # 1.0 for an exact token match, lower for a one-typo (fuzzy) match


EMPTY = Text("", ())


def cap(text: str, limit: int = MAX_CHARS) -> str:
    """Keep the head fifth and the tail of over-long text."""
    if len(text) <= limit:
        return text
    head = limit // 5
    return text[:head] + " " + text[-(limit - head - 1):]


def fold(text: str) -> str:
    """Unicode-compatible, quote-folded surface form (case kept)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        for char, plain in _QUOTES:
            if char in text:
                text = text.replace(char, plain)
    return text


def normalize(text: str) -> Text:
    if not text:
        return EMPTY
    raw = cap(text)
    words = fold(raw).casefold().split()
    return Text(raw, _tokens(words))


def _token(word: str) -> str:
    """A word without apostrophes and boundary punctuation ("" when nothing is left)."""
    return word.replace("'", "").strip(_PUNCT)


class _TokenMemo(dict[str, str]):
    """The token of each word, memoised process-wide: messages share most of their words, and
    str.strip with a set of characters rebuilds its filter on every call. A lookup of a known word
    stays in C; a new one is computed by ``__missing__``. Bounded: cleared when full."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __missing__(self, word: str) -> str:
        if len(self) >= self.limit:
            self.clear()
        token = self[word] = _token(word)
        return token


_TOKENS = _TokenMemo(50_000)


def _tokens(words: list[str]) -> tuple[str, ...]:
    return tuple(filter(None, map(_TOKENS.__getitem__, words)))


class _Layout(msgspec.Struct, frozen=True):
    """Where a message's tokens sit in its folded surface text, and which ones end a clause."""

    surface: str  # fold(text.raw)
    spans: list[tuple[int, int]]  # character spans of the tokens in ``surface``
    breaks: frozenset[int]  # indices of tokens followed by clause punctuation


# Negation, anchoring and the snippet of one message all ask for the layout of the same Text:
# a one-entry memo keyed by identity computes it once per message.
_last_layout: tuple[Text, _Layout] | None = None


def _layout(text: Text) -> _Layout:
    global _last_layout
    memo = _last_layout
    if memo is not None and memo[0] is text:
        return memo[1]
    layout = _compute_layout(text)
    _last_layout = (text, layout)
    return layout


def _compute_layout(text: Text) -> _Layout:
    surface = fold(text.raw)
    spans: list[tuple[int, int]] = []
    breaks: set[int] = set()
    for word, span in _word_spans(surface):
        if span is not None:
            spans.append(span)
        if spans and word[-1] in _CLAUSE_END:
            breaks.add(len(spans) - 1)
    return _Layout(surface, spans, frozenset(breaks))


def _word_spans(surface: str) -> Iterator[tuple[str, tuple[int, int] | None]]:
    """Each word of the folded text with the character span of its token (None when the word
    has no token: only apostrophes and punctuation)."""
    position = 0
    for word in surface.split():
        start = surface.index(word, position)
        position = start + len(word)
        if not _token(word):
            yield word, None
            continue
        lead = len(word) - len(word.lstrip(_PUNCT))
        trail = len(word.rstrip(_PUNCT))
        yield word, (start + lead, start + max(trail, lead + 1))


def clause_breaks(text: Text) -> frozenset[int]:
    """Indices of tokens followed by clause punctuation (",", ".", "!", "?", ...)."""
    return _layout(text).breaks


def surface(text: Text, start: int, end: int) -> str:
    """The tokens [start, end) as they appear in the message (quotes folded)."""
    memo = _last_layout
    if (memo is not None and memo[0] is text) or not 0 <= start < end:
        layout = _layout(text)
        spans = layout.spans
        if not spans or start >= len(spans):
            return ""
        return layout.surface[spans[start][0]:spans[min(end, len(spans)) - 1][1]]
    return _snippet(fold(text.raw), start, end)


def _snippet(folded: str, start: int, end: int) -> str:
    """``surface`` without a layout (0 <= start < end), in C calls: which words have a token, then
    the spans of the first and last word only."""
    words = folded.split()
    with_token = list(compress(range(len(words)), map(_TOKENS.__getitem__, words)))
    if start >= len(with_token):
        return ""
    first, last = with_token[start], with_token[min(end, len(with_token)) - 1]
    return folded[_word_span(folded, words, first)[0]:_word_span(folded, words, last)[1]]


def _word_span(folded: str, words: list[str], position: int) -> tuple[int, int]:
    """The span of the token of word ``position`` (which has one) in the folded text."""
    offset = len(folded) - len(folded.split(None, position)[-1])  # where the word starts
    word = words[position]
    lead = len(word) - len(word.lstrip(_PUNCT))
    trail = len(word.rstrip(_PUNCT))
    return offset + lead, offset + max(trail, lead + 1)


FUZZY_SCORE = 0.7  # PhraseHit.score of a one-typo match
FUZZY_MIN_TOKENS = 3  # shorter phrases are never matched fuzzily
FUZZY_MIN_CHARS = 4  # the misspelt phrase token must have at least this many characters


class FuzzyIndex:
    """One-typo matching for short messages: the message has as many tokens as the phrase (or one
    more), and exactly one aligned token differs by one edit (insert, delete, substitute, swap).
    Negators never take part in a typo, so "no i dont" cannot become "no i meant".

    Each phrase is indexed under its "one token blanked" variants, so a message window costs one
    dict lookup per token, however many phrases there are."""

    def __init__(self, lexicons: list[tuple[str, tuple[str, ...]]], negators: frozenset[str]) -> None:
        self.negators = negators
        self.variants: dict[tuple[str, ...], list[tuple[int, str, str, str]]] = {}
        sizes = [0]
        for name, phrases in lexicons:
            for phrase in phrases:
                tokens = tuple(phrase.split(" "))
                if len(tokens) < FUZZY_MIN_TOKENS:
                    continue
                sizes.append(len(tokens))
                for position, token in enumerate(tokens):
                    if len(token) >= FUZZY_MIN_CHARS and token not in negators:
                        key = (*tokens[:position], "", *tokens[position + 1:])
                        self.variants.setdefault(key, []).append((position, token, phrase, name))
        self.max_size = max(sizes)

    def find(self, tokens: tuple[str, ...], skip: set[str]) -> list[PhraseHit]:
        n = len(tokens)
        if n < FUZZY_MIN_TOKENS or n > self.max_size + 1:
            return []
        hits: dict[str, PhraseHit] = {}
        for size in (n, n - 1):
            for start in range(n - size + 1):
                window = tokens[start:start + size]
                for position, got in enumerate(window):
                    key = (*window[:position], "", *window[position + 1:])
                    for _, want, phrase, name in self.variants.get(key, ()):
                        if name not in skip and name not in hits and got not in self.negators and one_edit(got, want):
                            hits[name] = PhraseHit(name, phrase, start, start + size, FUZZY_SCORE)
        return list(hits.values())


def one_edit(a: str, b: str) -> bool:
    """True when a and b differ by exactly one insertion, deletion, substitution or adjacent swap."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    if len(a) == len(b):
        rest_a, rest_b = a[prefix + 1:], b[prefix + 1:]
        swapped = a[prefix + 1:prefix + 2] + a[prefix] == b[prefix:prefix + 2]
        return rest_a == rest_b or (swapped and a[prefix + 2:] == b[prefix + 2:])
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return longer[prefix + 1:] == shorter[prefix:]
