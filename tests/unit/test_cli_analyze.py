"""`signals analyze` end to end on the fixtures (structure and ids; not detector outputs)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from detectors.model import SIGNAL_TYPES, TrajectoryReport
from streams.cli import main
from streams.cli.output import render_table, report_to_dict, top_signals

FIXTURES = Path(__file__).parents[1] / "fixtures"
LEADING_KEYS = ["id", "quality", "quality_score", "triage_score", "signals", "counts"]
SIGNAL_KEYS = ["type", "index", "confidence", "snippet", "tool", "metadata"]


def analyze_jsonl(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["analyze", "--format", "jsonl", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def check_row(row: dict[str, Any]) -> None:
    assert list(row)[:6] == LEADING_KEYS
    assert row["quality"] in ("excellent", "good", "neutral", "poor", "severe")
    assert 0 <= row["quality_score"] <= 100 and 0 <= row["triage_score"] <= 1
    for signal in row["signals"]:
        assert list(signal) == SIGNAL_KEYS
        assert signal["type"] in SIGNAL_TYPES and 0 <= signal["index"] < row["events"]
    assert sum(row["counts"].values()) >= len(row["signals"])


def test_checklist_gives_one_report_per_conversation(capsys: pytest.CaptureFixture[str]) -> None:
    rows = analyze_jsonl(capsys, str(FIXTURES / "checklist.jsonl"))
    expected_ids = [json.loads(line)["id"] for line in (FIXTURES / "checklist.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == expected_ids
    assert rows[0]["id"] == "C01_clean"
    for row in rows:
        check_row(row)


def test_tau_bench_ids_labels_and_pipeline_version(capsys: pytest.CaptureFixture[str]) -> None:
    rows = analyze_jsonl(capsys, "--pipeline-version", "v9", str(FIXTURES / "tau_bench_2.json"))
    raw = json.loads((FIXTURES / "tau_bench_2.json").read_text())
    assert [r["id"] for r in rows] == [f"{r['task_id']}-{r['trial']}" for r in raw]
    assert [r["labels"]["reward"] for r in rows] == [r["reward"] for r in raw]
    assert {r["pipeline_version"] for r in rows} == {"v9"}
    for row in rows:
        check_row(row)


def test_several_files_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    names = ("openai_chat.json", "sharegpt.json", "events.jsonl")
    rows = analyze_jsonl(capsys, *(str(FIXTURES / n) for n in names))
    assert [r["id"] for r in rows] == ["order-lookup-1", "sg-weather", "sharegpt-1", "ev-1", "ev-2"]
    assert rows[0]["tool_calls"] == 1 and rows[0]["user_turns"] == 2
    for row in rows:
        check_row(row)


def test_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = (FIXTURES / "sharegpt.json").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert [r["id"] for r in analyze_jsonl(capsys, "-")] == ["sg-weather", "stdin-1"]


def test_bad_input_exits_2_with_a_helpful_message(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"foo": 1}')
    assert main(["analyze", "--format", "jsonl", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("signals analyze: expected ") and str(bad) in err and "Fix:" in err
    assert "τ-bench" in err and "ShareGPT" in err


def test_missing_path_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["analyze", str(tmp_path / "nope.json")]) == 2
    assert "no file at" in capsys.readouterr().err


def test_table_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--format", "table", str(FIXTURES / "tau_bench_2.json")]) == 0
    out = capsys.readouterr().out
    assert "quality" in out and "triage" in out and "0-0" in out and "2-0" in out


def test_default_format_is_jsonl_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(FIXTURES / "openai_chat.json")]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "order-lookup-1"


def make_report(**fields: Any) -> TrajectoryReport:
    base: dict[str, Any] = {"id": "r1", "quality": "poor", "quality_score": 30.0, "triage_score": 0.7,
                            "signals": [], "counts": {}}
    return TrajectoryReport(**{**base, **fields})


def test_report_to_dict_keeps_all_signal_keys_even_when_empty() -> None:
    from detectors.model import Signal

    row = report_to_dict(make_report(signals=[Signal(type="execution.loops.retry", index=3)],
                                     counts={"execution.loops.retry": 1}), {"reward": 1.0})
    assert list(row)[:6] == LEADING_KEYS
    assert row["signals"] == [{"type": "execution.loops.retry", "index": 3, "confidence": 1.0, "snippet": "",
                               "tool": "", "metadata": {}}]
    assert row["labels"] == {"reward": 1.0}
    assert "pipeline_version" not in row  # omitted when unset


def test_top_signals_ranks_by_count() -> None:
    counts = {"execution.loops.retry": 1, "interaction.disengagement.quit": 3, "a.b.c": 2, "z.z.z": 1}
    assert top_signals(counts) == "disengagement.quit×3, a.b.c×2, execution.loops.retry (+1)"


def test_render_table_to_a_stream() -> None:
    out = io.StringIO()
    render_table([make_report(counts={"interaction.disengagement.quit": 2})], out)
    assert "r1" in out.getvalue() and "disengagement.quit×2" in out.getvalue()
