"""Reviewers' labels (``labels`` table, sinks/schema/004_labels.sql): save, read, and labelled trajectories.

One row per (trajectory, reviewer), the latest wins. A trajectory labelled by several reviewers
has one ``consensus`` label: the most given, ties to the most recent.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from sinks.queries import bundles
from sinks.selection import Selection, where

LABELS: Final = ("failure", "fine", "informative")
DEFAULT_REVIEWER: Final = "reviewer"
MAX_NOTE: Final = 4000
Row = dict[str, Any]


class LabelWrite(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    label: str
    reviewer: str = ""
    note: str = ""
    pipeline_version: str = ""
    database: str = ""


class LabelQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Which labels: of these ids (all when empty), of this reviewer (all when empty), of trajectories
    matching the filters (named as ``Selection``'s)."""

    ids: list[str] = []
    reviewer: str = ""
    agent: str = ""
    tenant: str = ""
    since: str = ""
    until: str = ""
    quality: str = ""
    signal: str = ""
    database: str = ""

    def filters(self) -> Selection:
        return Selection(agent=self.agent, tenant=self.tenant, since=self.since, until=self.until,
                         quality=self.quality, signal=self.signal)


def checked(write: LabelWrite) -> LabelWrite:
    """The write with its label known, a reviewer and a bounded note; ValueError says what is wrong."""
    if write.label not in LABELS:
        raise ValueError(f"label must be one of {', '.join(LABELS)}, got {write.label!r}")
    if not write.id:
        raise ValueError("a label needs the trajectory id")
    return msgspec.structs.replace(write, reviewer=write.reviewer.strip()[:100] or DEFAULT_REVIEWER,
                                   note=write.note.strip()[:MAX_NOTE])


def save(client: Any, database: str, write: LabelWrite, now: datetime | None = None) -> Row:
    """Store one label (replacing this reviewer's earlier label of the trajectory)."""
    write = checked(write)
    moment = now or datetime.now(UTC)
    client.insert("labels", [[write.id, write.pipeline_version, write.reviewer, write.label, write.note, moment]],
                  column_names=["trajectory_id", "pipeline_version", "reviewer", "label", "note", "labelled_at"],
                  database=database)
    return {"id": write.id, "reviewer": write.reviewer, "label": write.label, "note": write.note,
            "pipeline_version": write.pipeline_version, "labelled_at": moment.timestamp()}


def labels(client: Any, database: str, query: LabelQuery) -> list[Row]:
    """Rows {id, reviewer, label, note, pipeline_version, labelled_at (epoch s)} by id, then reviewer."""
    conditions: list[str] = ["1"]
    params: dict[str, Any] = {}
    if query.ids:
        conditions.append("trajectory_id IN {ids:Array(String)}")
        params["ids"] = query.ids
    if query.reviewer:
        conditions.append("reviewer = {reviewer:String}")
        params["reviewer"] = query.reviewer
    clause, filter_params = where(query.filters())
    if filter_params:
        conditions.append(f"trajectory_id IN (SELECT trajectory_id FROM {database}.trajectories FINAL {clause})")
        params.update(filter_params)
    sql = ("SELECT trajectory_id, reviewer, label, note, pipeline_version, toUnixTimestamp64Milli(labelled_at) "
           f"FROM {database}.labels FINAL WHERE {' AND '.join(conditions)} ORDER BY trajectory_id, reviewer")
    return [{"id": tid, "reviewer": reviewer, "label": label, "note": note, "pipeline_version": version,
             "labelled_at": at_ms / 1000}
            for tid, reviewer, label, note, version, at_ms in client.query(sql, parameters=params).result_rows]


def consensus(given: list[Row]) -> str:
    """The label given most often; a tie goes to the most recent of the tied labels."""
    counts = Counter(row["label"] for row in given)
    top = max(counts.values())
    tied = [row for row in given if counts[row["label"]] == top]
    return str(max(tied, key=lambda row: (row["labelled_at"], row["reviewer"]))["label"])


def labelled(client: Any, database: str, query: LabelQuery) -> list[Row]:
    """Labelled trajectories: {id, label (the consensus), labels (every reviewer's), record, events,
    signals}, by id."""
    by_id: dict[str, list[Row]] = {}
    for row in labels(client, database, query):
        by_id.setdefault(row["id"], []).append(row)
    found = bundles(client, database, list(by_id))
    return [{"id": tid, "label": consensus(given), "labels": given, **found[tid]} for tid, given in by_id.items()]
