"""Ranking metrics used by `signals evaluate`."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from detectors.evaluation import auc, precision_at_k, random_scorer
from detectors.model import TrajectoryReport
from streams.cli import main


def pairwise_auc(scores: list[float], labels: list[bool]) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=2, max_size=40))
def test_auc_equals_the_pairwise_definition_with_ties(pairs: list[tuple[int, bool]]) -> None:
    scores = [float(s) for s, _ in pairs]
    labels = [y for _, y in pairs]
    if all(labels) or not any(labels):
        assert math.isnan(auc(scores, labels))
    else:
        assert math.isclose(auc(scores, labels), pairwise_auc(scores, labels))


def test_auc_extremes() -> None:
    assert auc([3, 2, 1, 0], [True, True, False, False]) == 1.0
    assert auc([0, 1, 2, 3], [True, True, False, False]) == 0.0


def test_precision_at_k_takes_the_top_k() -> None:
    scores, labels, ids = [0.9, 0.1, 0.8, 0.2], [True, False, False, True], ["a", "b", "c", "d"]
    assert precision_at_k(scores, labels, 1, ids) == 1.0
    assert precision_at_k(scores, labels, 2, ids) == 0.5
    assert precision_at_k(scores, labels, 4, ids) == 0.5


def test_random_scorer_is_deterministic_per_seed_and_differs_across_seeds() -> None:
    reports = [TrajectoryReport(id=f"t{i}", quality="neutral", quality_score=50, triage_score=0, signals=[], counts={})
               for i in range(50)]
    first = [random_scorer(1)(r) for r in reports]
    assert first == [random_scorer(1)(r) for r in reports]
    assert first != [random_scorer(2)(r) for r in reports]


def test_evaluate_without_labels_says_what_it_needs(tmp_path, capsys) -> None:
    path = tmp_path / "chat.json"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}))
    assert main(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "reward" in err and "--labels" in err
