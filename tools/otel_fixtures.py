"""Write tests/fixtures/otel/*.jsonl: one small conversation (tests.support.otel.WEATHER, its first
tool call failing) traced in each shape by the official OpenTelemetry SDK, as OTLP/JSON lines the
way the Collector's file exporter writes them, one span per line, lines in reverse order (spans
out of order, spread over many records). Run from the repo root: python tools/otel_fixtures.py"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.otel import WEATHER, conversation_spans, to_json_lines  # noqa: E402

SHAPES = {"genai": "genai", "legacy": "legacy", "openinference": "openinference"}


def main() -> None:
    out = ROOT / "tests" / "fixtures" / "otel"
    out.mkdir(parents=True, exist_ok=True)
    for name, shape in SHAPES.items():
        spans, _ = conversation_spans(WEATHER, conversation=f"weather-{name}", shape=shape,
                                      failed_calls=frozenset({"call_VSPy"}))
        (out / f"{name}.jsonl").write_text(to_json_lines(spans, reverse=True), encoding="utf-8")
        print(f"{out / name}.jsonl: {len(spans)} spans")


if __name__ == "__main__":
    main()
