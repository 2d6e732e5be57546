"""`signals demo` with no paths (what infra/quickstart.sh runs) finds its packaged sample."""

from __future__ import annotations

from pathlib import Path

from streams.cli.commands import demo


def test_the_default_sample_exists_and_is_read() -> None:
    assert demo.SAMPLE.is_file(), demo.SAMPLE
    assert Path(__file__).resolve().parents[2] / "infra" / "sample" / "trajectories.jsonl" == demo.SAMPLE
    assert len(demo.read_all([str(demo.SAMPLE)])) > 0
    assert all(Path(path).is_file() for path in demo.default_paths())
