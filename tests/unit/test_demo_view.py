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
