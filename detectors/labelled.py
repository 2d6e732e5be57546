"""Labelled trajectories for `signals evaluate` and `signals calibrate`.

Where the failure label comes from, first found wins:
1. a labels file: JSONL of ``{"id": ..., "label": ...}`` (label ``failure``/``fine``/``informative``,
   a boolean "failed", or 0/1), matched on the trajectory id;
2. the file itself: τ-bench's ``reward`` (failure means ``reward < 1``);
3. a ``feedback`` event in the trajectory (its label, else a score below 0.5 is a failure).

The label is kept beside the report and never given to the engine; τ-bench's ``info`` is never read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from detectors.adapters import Trajectory, read_trajectories
from detectors.calibration import Labelled
from detectors.model import Event, Feedback
from detectors.session import DEFAULT_ENGINE, Engine, Session
from detectors.triage import evidence_values

FAILURE_WORDS: Final = frozenset({"failure", "fail", "failed", "bad", "negative", "wrong"})
FINE_WORDS: Final = frozenset({"fine", "success", "succeeded", "good", "positive", "ok", "pass", "informative"})
GROUPS: Final = ("task", "request", "file", "trajectory")


class LabelError(ValueError):
    def __init__(self, got: str, fix: str) -> None:
        super().__init__(got)
        self.got, self.fix = got, fix


def read_label_file(path: str) -> dict[str, bool]:
    """``{"id": ..., "label": ...}`` lines -> failed per id."""
    out: dict[str, bool] = {}
    try:
        lines = Path(path).read_text("utf-8").splitlines()
    except OSError as error:
        raise LabelError(f"cannot read {path}: {error.strerror or error}", "check the path") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            failed = label_value(row["label"])
            out[str(row["id"])] = failed
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise LabelError(f"{path}:{number}: {line[:80]!r} ({error})",
                             'one JSON object per line: {"id": "...", "label": "failure" | "fine"}') from None
    return out


def label_value(label: Any) -> bool:
    """True when the label says the trajectory failed."""
    if isinstance(label, bool):
        return label
    if isinstance(label, int | float):
        return float(label) >= 0.5
    text = str(label).strip().lower()
    if text in FAILURE_WORDS:
        return True
    if text in FINE_WORDS:
        return False
    raise ValueError(f"unknown label {label!r}: use failure or fine (or true/false)")


def feedback_label(events: Iterable[Event]) -> bool | None:
    found: bool | None = None
    for event in events:
        if isinstance(event, Feedback):
            if event.label:
                try:
                    found = label_value(event.label)
                    continue
                except ValueError:
                    pass
            if event.score is not None:
                found = event.score < 0.5
    return found


def trajectory_label(trajectory: Trajectory, labels: dict[str, bool]) -> bool | None:
    if trajectory.id in labels:
        return labels[trajectory.id]
    reward = trajectory.labels.get("reward")
    if reward is not None:
        return float(reward) < 1.0
    return feedback_label(trajectory.events)


def load(paths: list[str], *, labels: dict[str, bool] | None = None, models: dict[str, str] | None = None,
         group: str = "task", engine: Engine | None = None) -> Labelled:
    """Analyse every trajectory of the files and keep the labelled ones with their evidence."""
    return load_trajectories(((path, t) for path in paths for t in read_trajectories(path)), labels=labels,
                             models=models, group=group, engine=engine)


def load_trajectories(found: Iterable[tuple[str, Trajectory]], *, labels: dict[str, bool] | None = None,
                      models: dict[str, str] | None = None, group: str = "task",
                      engine: Engine | None = None) -> Labelled:
    """``load`` over (source, trajectory) pairs: files, or the trajectories stored with reviewers' labels."""
    if group not in GROUPS:
        raise LabelError(f"--group {group!r}", f"use one of: {', '.join(GROUPS)}")
    labels, models = labels or {}, models or {}
    reports, values, failed, groups, files, model_names = [], [], [], [], [], []
    unlabelled: list[str] = []
    for path, trajectory in found:
        label = trajectory_label(trajectory, labels)
        if label is None:
            unlabelled.append(f"{path}: {trajectory.id}")
            continue
        session = Session(trajectory.id, engine=engine or DEFAULT_ENGINE)
        for event in trajectory.events:
            session.feed(event)
        session.close()
        report = session.report()
        reports.append(report)
        values.append(evidence_values(report.counts, session.state.features))
        failed.append(label)
        groups.append(_group(group, report, path))
        files.append(path)
        model_names.append(models.get(trajectory.id) or report.model or "unknown")
    if not reports:
        example = f", e.g. {unlabelled[0]}" if unlabelled else ""
        raise LabelError(f"no labelled trajectories ({len(unlabelled)} without a label{example})",
                         "pass τ-bench result files (reward), --labels FILE.jsonl, trajectories with feedback "
                         "events, or label some on the review page (signals serve) for --from-labels")
    return Labelled(reports, values, failed, groups, files, model_names)


def _group(group: str, report: Any, path: str) -> str:
    if group == "task":
        return f"{report.agent_id}|{report.context_key}|task:{report.task_key or report.id}"
    if group == "request":
        return f"{report.agent_id}|{report.context_key}|request:{report.request_key or report.id}"
    if group == "file":
        return path
    return f"{path}|{report.id}"
