"""Where each signal's snippet is in an event's text: the text cut into plain and marked pieces (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Piece:
    text: str
    signal: str = ""  # the signal type whose snippet this piece is ("" : plain text)


def pieces(text: str, snippets: list[tuple[str, str]]) -> tuple[list[Piece], list[tuple[str, str]]]:
    """``text`` as pieces, each (snippet, signal type) marked at its first case-insensitive match that
    overlaps no earlier mark; also the (snippet, type) pairs that found no place (shown beside)."""
    lowered = text.lower()
    fold = len(lowered) == len(text)  # lower() keeps offsets for almost every text; else match exactly
    folded = lowered if fold else text
    spans: list[tuple[int, int, str]] = []
    unplaced: list[tuple[str, str]] = []
    for snippet, signal in snippets:
        start = _free_match(folded, snippet.strip().lower() if fold else snippet.strip(), spans) if snippet.strip() else -1
        if start < 0:
            unplaced.append((snippet, signal))
            continue
        spans.append((start, start + len(snippet.strip()), signal))
    out: list[Piece] = []
    position = 0
    for start, end, signal in sorted(spans):
        if start > position:
            out.append(Piece(text[position:start]))
        out.append(Piece(text[start:end], signal))
        position = end
    if position < len(text) or not out:
        out.append(Piece(text[position:]))
    return out, unplaced


def _free_match(folded: str, needle: str, taken: list[tuple[int, int, str]]) -> int:
    """The first index of ``needle`` in ``folded`` overlapping no span of ``taken``; -1 if none."""
    start = folded.find(needle)
    while start >= 0:
        end = start + len(needle)
        if all(end <= a or start >= b for a, b, _ in taken):
            return start
        start = folded.find(needle, start + 1)
    return -1
