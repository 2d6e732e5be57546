"""Row versions for ReplacingMergeTree: a newer pipeline always wins, then more events, then final.

``version = pipeline_rank << 24 | min(events, 2**23 - 1) << 1 | final`` where ``pipeline_rank``
packs the semantic version ``MAJOR.MINOR.PATCH`` (an optional leading ``v``; missing parts are 0)
as ``major << 24 | minor << 12 | patch`` (major < 65536, minor and patch < 4096, larger values are
clamped). Strings that do not start with a number (``""``, ``"dev"``, a git sha) rank 0, below any
release. Consequences:
- replaying with pipeline 2.0.0 supersedes every 1.x row of the same trajectory;
- replaying 1.x again afterwards cannot override the 2.0.0 rows (its version is lower);
- re-running the same pipeline on the same events produces the same version (deterministic).
"""

from __future__ import annotations

import functools
import re
from typing import Final

_SEMVER: Final = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")
MAX_EVENTS: Final = 2**23 - 1
_LIMITS: Final = (2**16 - 1, 2**12 - 1, 2**12 - 1)


@functools.lru_cache(maxsize=256)  # a handful of versions, one lookup per row written
def pipeline_rank(pipeline_version: str) -> int:
    """``"1.4.2"`` -> an integer that orders like the semantic version (0 when unparseable)."""
    match = _SEMVER.match(pipeline_version.strip())
    if match is None:
        return 0
    major, minor, patch = (min(int(part or 0), cap) for part, cap in zip(match.groups(), _LIMITS, strict=True))
    return major << 24 | minor << 12 | patch


def row_version(pipeline_version: str, events: int, final: bool) -> int:
    """The UInt64 ReplacingMergeTree version of one trajectory record."""
    return pipeline_rank(pipeline_version) << 24 | min(max(events, 0), MAX_EVENTS) << 1 | int(final)


def rank_of(version: int) -> int:
    """The pipeline rank a row version was built from."""
    return version >> 24
