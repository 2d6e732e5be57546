"""The review pages' pure parts: snippets placed in a text, queue filters, events with their signals."""

from __future__ import annotations

import pytest

from streams.review.highlight import Piece, pieces
from streams.review.pages import BadFilter, event_text, event_views, neighbours, queue_params, render


def test_each_snippet_is_marked_at_its_first_case_insensitive_match() -> None:
    cut, unplaced = pieces("Thanks! It WORKED, thanks again", [("it worked", "s.success"), ("thanks", "s.gratitude")])
    assert cut == [Piece("Thanks", "s.gratitude"), Piece("! "), Piece("It WORKED", "s.success"), Piece(", thanks again")]
    assert unplaced == []


def test_overlapping_and_missing_snippets_are_set_aside_or_moved_to_a_free_match() -> None:
    cut, unplaced = pieces("no no no", [("no no", "a"), ("no", "b"), ("yes", "c"), ("", "d")])
    assert cut == [Piece("no no", "a"), Piece(" "), Piece("no", "b")]
    assert unplaced == [("yes", "c"), ("", "d")]
    assert pieces("", []) == ([Piece("")], [])


def test_queue_filters_keep_known_names_and_numbers() -> None:
    assert queue_params({"strategy": "random", "n": "5", "seed": " 7 ", "agent": "", "bogus": "x"}) == {
        "strategy": "random", "n": 5, "seed": 7}
    with pytest.raises(BadFilter, match="n must be a whole number"):
        queue_params({"n": "five"})


def test_signals_sit_at_the_event_they_point_at() -> None:
    events = [{"kind": "user", "seq": 0, "text": "this is useless"},
              {"kind": "tool_call", "seq": 1, "tool": "f", "arguments": {"a": 1}},
              {"kind": "tool_result", "seq": 2, "result": "HTTP 429 Too Many", "is_error": True}]
    signals = [{"type": "env.exhaustion.rate_limit", "index": 2, "snippet": "429", "confidence": 1.0},
               {"type": "x.y.z", "index": 9, "snippet": "gone", "confidence": 1.0}]
    views, orphans = event_views(events, signals)
    assert [v["seq"] for v in views] == [0, 1, 2]
    assert views[2]["pieces"] == [Piece("HTTP "), Piece("429", "env.exhaustion.rate_limit"), Piece(" Too Many")]
    assert views[2]["error"] and not views[0]["signals"]
    assert [s["index"] for s in orphans] == [9]
    assert '"a": 1' in event_text(events[1])


def test_neighbours_in_the_queue() -> None:
    assert neighbours(["a", "b", "c"], "b") == ("a", "c", 2)
    assert neighbours(["a", "b", "c"], "a") == (None, "b", 1)
    assert neighbours(["a"], "z") == (None, None, None)


def test_the_trajectory_page_marks_snippets_escaped_and_labelled_with_the_type() -> None:
    views, _ = event_views([{"kind": "user", "seq": 0, "text": "<b>bad</b> it worked"}],
                           [{"type": "interaction.satisfaction.success", "index": 0, "snippet": "it worked",
                             "confidence": 0.9}])
    html = render("trajectory.html", tid="t1", record=None, events=views, orphans=[], labels=[],
                  label_names=("failure", "fine", "informative"), keys={"failure": "1", "fine": "2", "informative": "3"},
                  reviewer="me", own_label="", own_note="", saved="", qs="", prev_id=None, next_id=None,
                  position=None, queue_size=0, signed_in=False)
    assert "&lt;b&gt;bad&lt;/b&gt;" in html and "<b>bad" not in html
    assert ('<mark data-signal="interaction.satisfaction.success" title="interaction.satisfaction.success">it worked'
            '<span class="mark-type"> interaction.satisfaction.success</span></mark>') in html


def test_an_alert_reads_as_agent_category_count_window_and_baseline() -> None:
    from streams.review.routes import alert_text
    alert = {"agent_id": "air", "category": "execution.failure", "window_start": 1767225600,
             "window_end": 1767225900, "count": 40, "baseline": 3.25}
    assert alert_text(alert) == "air · execution.failure: 40 signals in 2026-01-01 00:00–00:05 UTC (baseline 3.2)"
