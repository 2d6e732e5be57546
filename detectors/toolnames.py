"""Reading tool names: consequential (state-changing) tools and human hand-offs (data in tools.toml)."""

from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib import resources

_SPLIT = re.compile(r"[_\-.\s]+|(?<=[a-z])(?=[A-Z])")


@cache
def _lexicon() -> tuple[frozenset[str], tuple[str, ...]]:
    data = tomllib.loads(resources.files("detectors.lexicons").joinpath("tools.toml").read_text("utf-8"))
    return frozenset(data["mutating_verbs"]), tuple(data["handoff_words"])


@cache
def is_mutating(tool: str) -> bool:
    words = [w for w in _SPLIT.split(tool) if w]
    return bool(words) and words[0].lower() in _lexicon()[0]


@cache
def is_handoff(tool: str) -> bool:
    name = tool.lower()
    return any(word in name for word in _lexicon()[1])


@cache
def tool_verb(tool: str) -> str:
    """The lowercased leading word of a tool name: ``cancel_reservation`` -> ``cancel``."""
    words = [w for w in _SPLIT.split(tool) if w]
    return words[0].lower() if words else ""
