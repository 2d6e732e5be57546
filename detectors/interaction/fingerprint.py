"""Compact, deterministic message fingerprints for repetition detection.

A fingerprint is an exact digest of the token sequence plus a bottom-k sketch of the message's
distinct-token hashes (crc32, so it is stable across processes and can live in session state).
The sketch estimates the Jaccard similarity of the two token sets; it is exact when both messages
have at most ``k`` distinct tokens.
"""

from __future__ import annotations

import zlib

import msgspec


class _HashMemo(dict[str, int]):
    """crc32 of each token, memoised process-wide: a known token is looked up in C, a new one is
    hashed by ``__missing__``. Bounded: cleared when full."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __missing__(self, token: str) -> int:
        if len(self) >= self.limit:
            self.clear()
        value = self[token] = zlib.crc32(token.encode())
        return value


_HASHES = _HashMemo(50_000)


class Fingerprint(msgspec.Struct, array_like=True):
    index: int
    digest: int  # crc32 of the space-joined tokens
    size: int  # number of distinct tokens
    sketch: list[int]  # the k smallest distinct-token hashes (all of them when there are <= k)


def token_hashes(tokens: set[str]) -> list[int]:
    """crc32 of each token, in the set's order."""
    return list(map(_HASHES.__getitem__, tokens))


def fingerprint(index: int, tokens: tuple[str, ...], k: int) -> Fingerprint:
    digest = zlib.crc32(" ".join(tokens).encode())
    hashes = list(map(_HASHES.__getitem__, set(tokens)))  # token_hashes, without the extra call
    size = len(hashes)
    if size > k:  # the k smallest, sorted in place (sorted(hashes)[:k] without the two copies)
        hashes.sort()
        del hashes[k:]
    return Fingerprint(index, digest, size, hashes)


def similarity(a: Fingerprint, b: Fingerprint, k: int, floor: float = 0.0) -> float:
    """1.0 for identical token sequences, else the bottom-k estimate of the token-set Jaccard.
    Returns 0.0 early when the value is certainly below ``floor``: the set sizes alone keep the
    Jaccard below it, or (truncated sketches) too few hashes are shared for the estimate to reach it."""
    if a.digest == b.digest:
        return 1.0
    if min(a.size, b.size) < floor * max(a.size, b.size):
        return 0.0
    mine, theirs = set(a.sketch), set(b.sketch)
    shared = len(mine.intersection(theirs))
    union_size = len(mine) + len(theirs) - shared
    if a.size > len(a.sketch) or b.size > len(b.sketch):  # truncated sketches: bottom-k estimate
        # The estimate counts the shared hashes among the min(k, union_size) smallest of the union,
        # so it is at most shared / min(k, union_size): below the floor, the sort is not needed.
        top = min(k, union_size)
        if top > 0 and shared / top < floor:
            return 0.0
        union = set(sorted(mine.union(theirs))[:k])
        return len(union.intersection(mine, theirs)) / len(union) if union else 0.0
    return shared / union_size if union_size else 0.0  # complete sketches: the exact Jaccard
