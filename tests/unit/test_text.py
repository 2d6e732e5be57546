"""Normalisation, apostrophe folding, token boundaries, capping and snippets."""

from __future__ import annotations

import pytest

from detectors.lexicon import find_phrases
from detectors.text import MAX_CHARS, cap, normalize, one_edit, surface


@pytest.mark.parametrize(
    ("raw", "tokens"),
    [
        ("Hello,   WORLD!", ("hello", "world")),
        ("ＨＥＬＬＯ　ｗｏｒｌｄ", ("hello", "world")),  # NFKC: full-width letters and space
        ("STRASSE straße", ("strasse", "strasse")),  # casefold, not lower
        ("(e-mail) f**k ...", ("e-mail", "f**k")),  # inner punctuation kept, boundary stripped
        ("  \n\t ", ()),
    ],
)
def test_normalize_tokens(raw: str, tokens: tuple[str, ...]) -> None:
    assert normalize(raw).tokens == tokens


@pytest.mark.parametrize("variant", ["that's perfect", "that’s perfect", "thats perfect", "THAT‘S PERFECT"])
def test_apostrophe_forms_give_same_tokens_and_hits(variant: str) -> None:
    text = normalize(variant)
    assert text.tokens == ("thats", "perfect")
    assert [(h.lexicon, h.phrase) for h in find_phrases(text)] == [("satisfaction.gratitude", "thats perfect")]


def test_phrases_match_whole_tokens_only() -> None:
    assert find_phrases(normalize("I am pleased with the thankyouness")) == []
    assert [h.phrase for h in find_phrases(normalize("thanks!"))] == ["thanks"]


def test_hits_carry_token_offsets_sorted_by_position() -> None:
    hits = find_phrases(normalize("Forget it, I give up"))
    assert [(h.phrase, h.start, h.end) for h in hits] == [("forget it", 0, 2), ("i give up", 2, 5)]


def test_cap_keeps_head_fifth_and_tail() -> None:
    text = "h" * 1000 + "t" * 3000
    capped = cap(text)
    assert len(capped) == MAX_CHARS
    assert capped.startswith("h" * (MAX_CHARS // 5) + " ") and capped.endswith("t" * 100)
    assert cap("short") == "short"


def test_surface_returns_text_as_written() -> None:
    text = normalize("Well… No, I MEANT the red one!")
    assert surface(text, 1, 4) == "No, I MEANT"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [("ment", "meant", True), ("teh", "the", True), ("sed", "said", False), ("abc", "abc", False),
     ("useless", "hopeless", False), ("humna", "human", True)],
)
def test_one_edit(a: str, b: str, expected: bool) -> None:
    assert one_edit(a, b) is expected


def test_fold_maps_every_typographic_quote_and_dash_and_keeps_the_rest() -> None:
    from detectors.text import fold
    assert fold("it\u2019s \u2018a\u2019 \u201cquote\u201d \u02bcx a\u2013b\u2014c") == "it's 'a' \"quote\" 'x a-b-c"
    assert fold("x\u00b4") == "x \u0301"  # NFKC decomposes the acute accent before quotes are folded
    assert fold("caf\u00e9 \u2019") == "caf\u00e9 '"  # NFKC keeps é; the rest of the text is untouched
    assert fold("ｆｕｌｌ\u2019") == "full'"  # NFKC first, then the quotes
    assert fold("plain 'ascii' text") == "plain 'ascii' text"


@pytest.mark.parametrize("raw", [
    "Thanks, that's great!", "  “Quoted” — and  'spaced'\tout ", "-- ok -- then ...", "no. YES, please!!", "x",
])
def test_snippet_without_layout_equals_the_layout_spans(raw: str) -> None:
    from detectors import text as module

    text = normalize(raw)
    spans = module._compute_layout(text)
    for start in range(len(text.tokens) + 1):
        for end in range(start + 1, len(text.tokens) + 2):
            module._last_layout = None
            fast = module.surface(text, start, end)
            module._last_layout = (text, spans)
            assert fast == module.surface(text, start, end)
