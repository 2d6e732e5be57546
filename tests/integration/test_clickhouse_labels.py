"""The labels table on chDB: one row per reviewer and trajectory, the latest wins, through the ops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sinks.labels import LabelQuery, LabelWrite, consensus, labelled, labels, save
from sinks.service import QueryError, execute
from sinks.writer import Writer
from tests.support.chdb import make_report

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_labelling_again_replaces_and_each_reviewer_keeps_one_label(ch) -> None:
    client, database = ch
    writer = Writer(lambda: client, database)
    writer.write_reports([make_report("t1", {"execution.failure.bad_query": 1}), make_report("t2", agent="agent-b")])
    writer.flush()
    for minute, (tid, reviewer, label) in enumerate([("t1", "ann", "failure"), ("t1", "ann", "fine"),
                                                     ("t1", "ann", "failure"), ("t1", "bob", "fine"),
                                                     ("t2", "bob", "informative")]):
        save(client, database, LabelWrite(id=tid, label=label, reviewer=reviewer), T0 + timedelta(minutes=minute))
    rows = labels(client, database, LabelQuery())
    assert [(r["id"], r["reviewer"], r["label"]) for r in rows] == [
        ("t1", "ann", "failure"), ("t1", "bob", "fine"), ("t2", "bob", "informative")]  # the third insert kept
    assert [r["id"] for r in labels(client, database, LabelQuery(agent="agent-b"))] == ["t2"]
    assert [r["reviewer"] for r in labels(client, database, LabelQuery(ids=["t1"], reviewer="bob"))] == ["bob"]
    found = {row["id"]: row for row in labelled(client, database, LabelQuery())}
    assert found["t1"]["label"] == "fine"  # a tie goes to the most recent (bob, minute 3)
    assert found["t1"]["record"]["id"] == "t1" and found["t1"]["signals"][0]["type"] == "execution.failure.bad_query"


def test_the_label_op_refuses_unknown_labels_and_names_a_default_reviewer(ch) -> None:
    client, database = ch
    with pytest.raises(QueryError, match="label must be one of"):
        execute(client, "label", {"id": "t9", "label": "meh", "database": database})
    with pytest.raises(QueryError, match="unknown field"):
        execute(client, "labels", {"who": "x", "database": database})
    saved = execute(client, "label", {"id": "t9", "label": "fine", "note": "  ok  ", "database": database})
    assert (saved[0]["reviewer"], saved[0]["note"]) == ("reviewer", "ok")


def test_consensus_is_the_most_given_label() -> None:
    given = [{"label": "failure", "labelled_at": 1.0, "reviewer": "a"}, {"label": "fine", "labelled_at": 3.0, "reviewer": "b"},
             {"label": "failure", "labelled_at": 2.0, "reviewer": "c"}]
    assert consensus(given) == "failure"
    assert consensus(given[:2]) == "fine"
