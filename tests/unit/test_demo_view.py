"""What `signals demo` reports about its run: the work measured, startup apart."""

from __future__ import annotations

from rich.console import Console

from streams.cli.demo_view import Run, summary_table


def printed(run: Run) -> str:
    console = Console(width=300, record=True)
    console.print(summary_table(run, []))
    return console.export_text()


def test_engine_and_end_to_end_rates_come_from_the_work_not_the_whole_run() -> None:
    run = Run(["a.json"], "Kafka kafka://h:9092", 10, 2000, engine_s=0.04, pipeline_s=0.5, total_s=8.0,
              dsn="chdb://x", database="signals")
    out = printed(run)
    assert "50,000 events/s (20 µs/event, detectors alone)" in out
    assert "4,000 events/s over 0.50 s (first event produced -> last final record in ClickHouse" in out
    assert "8.0 s, broker check, worker start, group join included" in out
    assert "250 events/s" not in out  # 2000 events / 8 s: what the demo used to print


def test_in_process_names_its_path() -> None:
    out = printed(Run(["a.json"], "in-process", 1, 30, 0.001, 0.01, 0.5, "chdb://x", "signals"))
    assert "3,000 events/s over 0.01 s (files -> detectors -> rows)" in out
    assert "opening ClickHouse, the schema included" in out


class _Alive:
    def poll(self):
        return None


def _answers(monkeypatch, answers):
    """``post`` answers ``landed`` with these dicts in turn (the last one repeats)."""
    from streams.cli.commands import demo
    seen = iter(answers)
    last = {}

    def post(url, op, params):
        nonlocal last
        assert op == "landed" and params["since_ms"] == 5
        last = next(seen, last)
        return [last]
    monkeypatch.setattr(demo, "post", post)
    monkeypatch.setattr(demo, "DEDUPLICATED_AFTER_S", 0.0)
    monkeypatch.setattr(demo.time, "sleep", lambda s: None)
    return demo


def test_the_demo_waits_for_this_runs_records(monkeypatch, tmp_path) -> None:
    demo = _answers(monkeypatch, [{"final": 0, "last_ms": 0, "stored": 0}, {"final": 1, "last_ms": 9, "stored": 2},
                                  {"final": 2, "last_ms": 12, "stored": 2}])
    assert demo.wait_landed(_Alive(), "u", ["a", "b"], tmp_path / "log", since_ms=5) == 12


def test_a_rerun_whose_identical_inserts_were_deduplicated_ends_unmeasured(monkeypatch, tmp_path) -> None:
    demo = _answers(monkeypatch, [{"final": 0, "last_ms": 0, "stored": 2}])
    assert demo.wait_landed(_Alive(), "u", ["a", "b"], tmp_path / "log", since_ms=5) is None
    demo = _answers(monkeypatch, [{"final": 1, "last_ms": 9, "stored": 2}])  # part deduplicated, part new
    assert demo.wait_landed(_Alive(), "u", ["a", "b"], tmp_path / "log", since_ms=5) == 9


def test_an_unmeasured_run_says_why() -> None:
    from rich.console import Console

    from streams.cli.demo_view import Run, summary_table
    console = Console(record=True, width=250)
    run = Run(["f.jsonl"], "Kafka kafka://x", 3, 30, 0.01, None, 5.0, "chdb:///tmp/x", "signals")
    console.print(summary_table(run, []))
    text = console.export_text()
    assert "not measured: these records were already in ClickHouse" in text and "events/s over" not in text
