"""The review pages as HTML: what each page shows (pure view models) and the Jinja2 templates that draw them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlencode

import jinja2

from detectors.model import CATEGORIES, SIGNAL_TYPES
from sinks.selection import MAX_N, STRATEGIES
from streams.review.highlight import pieces

FILTERS: Final = ("strategy", "n", "seed", "agent", "tenant", "since", "until", "quality", "signal",
                  "pipeline_version")  # named like the flags of `signals sample`
INTEGERS: Final = frozenset({"n", "seed"})
QUALITIES: Final = ("excellent", "good", "neutral", "poor", "severe")
KEYS: Final = {"failure": "1", "fine": "2", "informative": "3"}
ROLES: Final = {"user": "user", "assistant": "assistant", "tool_call": "tool call", "tool_result": "tool result",
                "end": "end", "feedback": "feedback"}

_env = jinja2.Environment(loader=jinja2.PackageLoader("streams.review", "templates"),
                          autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
                          trim_blocks=True, lstrip_blocks=True)


def render(template: str, **context: Any) -> str:
    return _env.get_template(template).render(**context)


class BadFilter(ValueError):
    """A queue parameter that is not a number where one is needed."""


def queue_params(query: Mapping[str, str]) -> dict[str, Any]:
    """The queue's filters from the URL's query: known names, non-empty, numbers as ints."""
    out: dict[str, Any] = {}
    for name in FILTERS:
        value = query.get(name, "").strip()
        if not value:
            continue
        if name in INTEGERS:
            try:
                out[name] = int(value)
            except ValueError:
                raise BadFilter(f"{name} must be a whole number, got {value!r}") from None
        else:
            out[name] = value
    return out


def query_string(params: Mapping[str, Any]) -> str:
    return urlencode({k: v for k, v in params.items() if v not in ("", None)})


def form_context(params: Mapping[str, Any]) -> dict[str, Any]:
    """What the filter form needs: the values given and the choices."""
    return {"values": {name: params.get(name, "") for name in FILTERS}, "strategies": STRATEGIES,
            "qualities": QUALITIES, "signal_names": (*CATEGORIES, *SIGNAL_TYPES), "max_n": MAX_N}


def label_index(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["id"], []).append(row)
    return out


def event_text(event: Mapping[str, Any]) -> str:
    """What a reviewer reads of an event (the text a signal snippet points into)."""
    kind = event.get("kind")
    if kind in ("user", "assistant"):
        return str(event.get("text", ""))
    if kind == "tool_call":
        arguments = event.get("arguments")
        return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False, indent=1)
    if kind == "tool_result":
        return str(event.get("result", ""))
    if kind == "end":
        return str(event.get("reason", ""))
    if kind == "feedback":
        return " ".join(str(event[k]) for k in ("label", "score", "comment") if event.get(k) not in (None, ""))
    return ""


def event_views(events: list[dict[str, Any]], signals: list[dict[str, Any]]) -> tuple[list[dict[str, Any]],
                                                                                       list[dict[str, Any]]]:
    """Each event with its text cut around the snippets of the signals pointing at it; and the signals
    that point at no stored event."""
    by_index: dict[int, list[dict[str, Any]]] = {}
    for signal in signals:
        by_index.setdefault(int(signal["index"]), []).append(signal)
    views, seen = [], set()
    for event in events:
        seq = int(event.get("seq", 0))
        here = by_index.get(seq, []) if seq not in seen else []
        seen.add(seq)
        text = event_text(event)
        cut, unplaced = pieces(text, [(s.get("snippet", ""), s["type"]) for s in here])
        views.append({"seq": seq, "kind": event.get("kind", ""), "role": ROLES.get(str(event.get("kind")), "event"),
                      "tool": event.get("tool", ""), "error": bool(event.get("is_error")), "pieces": cut,
                      "signals": here, "unplaced": unplaced, "ts": event.get("ts")})
    orphans = [s for index, found in sorted(by_index.items()) if index not in seen for s in found]
    return views, orphans


def neighbours(ids: list[str], current: str) -> tuple[str | None, str | None, int | None]:
    """(previous id, next id, 1-based position) of ``current`` in the queue ``ids``."""
    if current not in ids:
        return None, None, None
    at = ids.index(current)
    return (ids[at - 1] if at > 0 else None, ids[at + 1] if at + 1 < len(ids) else None, at + 1)
