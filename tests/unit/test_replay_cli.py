"""`signals replay` arguments, checkpoints files and the embedded-ClickHouse guard (no broker)."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streams.cli import build_parser
from streams.cli.commands.replay import clickhouse_output, parse_duration, parse_partitions
from streams.errors import CliError
from streams.replay.checkpoint import Checkpoint, Range, checkpoint_key, default_path, load, save
from streams.replay.range import Bound, parse_bound


@pytest.mark.parametrize(("text", "bound"), [
    ("beginning", Bound("beginning")), ("END", Bound("end")), ("1234", Bound("offset", 1234)),
    ("2025-01-31T12:00:00Z", Bound("time", datetime(2025, 1, 31, 12, tzinfo=UTC).timestamp() * 1000)),
    ("2025-01-31T12:00:00", Bound("time", datetime(2025, 1, 31, 12, tzinfo=UTC).timestamp() * 1000)),
    ("2025-01-31T13:00:00+01:00", Bound("time", datetime(2025, 1, 31, 12, tzinfo=UTC).timestamp() * 1000)),
])
def test_bounds(text: str, bound: Bound) -> None:
    assert parse_bound(text) == bound


def test_a_bad_bound_says_what_is_accepted() -> None:
    with pytest.raises(CliError, match="ISO 8601"):
        parse_bound("yesterday")


def test_durations_and_partitions() -> None:
    assert [parse_duration(t) for t in ("0", "90s", "30m", "1h", "2d", "1.5h")] == [0, 90, 1800, 3600, 172800, 5400]
    assert parse_partitions("3,0,1,1") == [0, 1, 3]
    for bad, parse in (("1 hour", parse_duration), ("a,b", parse_partitions)):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(bad)


def test_the_command_is_registered_with_its_defaults() -> None:
    args = build_parser().parse_args(["replay", "--from", "beginning", "--pipeline-version", "2.0.0"])
    assert (args.stop, args.output, args.lookback, args.dry_run, args.checkpoint) == ("end", "clickhouse", 3600.0,
                                                                                      False, None)


def test_checkpoint_round_trip_and_key_mismatch(tmp_path: Path) -> None:
    key = checkpoint_key("events", "2.0.0", "beginning", "end", None, 3600.0)
    assert key != checkpoint_key("events", "1.0.0", "beginning", "end", None, 3600.0)
    path = default_path(str(tmp_path), "events", "2.0.0", key)
    assert path.parent == tmp_path / "replay" and load(path, key) is None
    saved = Checkpoint(key=key, ranges=[Range(0, 5, 10, 20)], resume={0: 12}, position={0: 15})
    save(path, saved)
    again = load(path, key)
    assert again is not None and (again.ranges, again.resume, again.position) == (saved.ranges, {0: 12}, {0: 15})
    with pytest.raises(CliError, match="--fresh"):
        load(path, "another")


def test_direct_clickhouse_output_is_refused_while_a_worker_holds_the_path(tmp_path: Path) -> None:
    (tmp_path / ".signals-worker.json").write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:1"}))
    with pytest.raises(CliError, match="--output topic"):
        clickhouse_output(f"chdb://{tmp_path}", "signals")
