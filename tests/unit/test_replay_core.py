"""streams.replay.Replayer without Kafka: same records as batch analysis, whole sessions, resume."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from detectors.adapters import Trajectory, read_trajectories
from detectors.model import Event, TrajectoryReport
from detectors.session import analyze
from streams.cli.commands.produce import chunks, with_end
from streams.codec import Rejected, encode_events, encode_report
from streams.replay import Replayer
from tests.builders import A, C, R, U, conv

REPO = Path(__file__).resolve().parents[2]
V = "2.0.0"
Message = tuple[int, bytes | None, bytes | None]  # (partition, key, value); offset = index per partition


class Collect:
    def __init__(self) -> None:
        self.reports: list[TrajectoryReport] = []
        self.rejected: list[tuple[int, Rejected]] = []

    def emit(self, report: TrajectoryReport, events: list[Event]) -> None:
        self.reports.append(report)

    def reject(self, partition: int, offset: int, key: bytes | None, value: bytes | None,
               rejected: Rejected) -> None:
        self.rejected.append((offset, rejected))

    def by_id(self) -> dict[str, dict]:
        return {r.id: json.loads(encode_report(r)) for r in self.reports}


def synthetic(count: int) -> list[Trajectory]:
    out = []
    for i in range(count):
        tid = f"t{i}"
        specs = [U("Book a flight to Paris"), A("Which date?"), C("search", {"to": "PAR"}, call_id="c1"),
                 R("error: timeout" if i % 2 else "3 flights", call_id="c1"),
                 U("No, that's wrong, I said Paris" if i % 3 else "thanks, that works"), A("Done.")]
        out.append(Trajectory(id=tid, events=conv(tid, *specs[: 3 + i % 4], start_ts=1_700_000_000.0 + i)))
    return out


def corpus() -> list[Trajectory]:
    return [*read_trajectories(str(REPO / "tests/fixtures/tau_bench_2.json")), *synthetic(12)]


def interleave(trajectories: list[Trajectory], batch: int = 2) -> list[Message]:
    """Round-robin messages of every trajectory, one partition (the worst case for session overlap)."""
    queues = [[encode_events(p) for p in chunks(with_end(t), batch)] for t in trajectories]
    out: list[Message] = []
    while any(queues):
        for t, queue in zip(trajectories, queues, strict=True):
            if queue:
                out.append((0, t.id.encode(), queue.pop(0)))
    return out


def feed(replayer: Replayer, messages: list[Message], first: int = 0) -> None:
    for offset, (partition, key, value) in enumerate(messages[first:], start=first):
        replayer.message(partition, offset, key, value)
        replayer.batch_done(partition)


def expected(trajectories: list[Trajectory], *, close: bool = True) -> dict[str, dict]:
    return {t.id: json.loads(encode_report(analyze(t.id, with_end(t) if close else t.events,
                                                   pipeline_version=V, close=close)))
            for t in trajectories}


def test_records_equal_batch_analysis_of_the_same_events() -> None:
    trajectories, out = corpus(), Collect()
    replayer = Replayer({0: 0}, out, pipeline_version=V)
    feed(replayer, interleave(trajectories, batch=3))
    replayer.finish()
    assert out.by_id() == expected(trajectories)
    assert all(r.final for r in out.reports) and replayer.counters.final == len(trajectories)
    assert not replayer.open


def test_sessions_open_at_the_end_of_the_range_are_non_final() -> None:
    trajectories, out = synthetic(5), Collect()
    replayer = Replayer({0: 0}, out, pipeline_version=V)
    feed(replayer, [(0, t.id.encode(), encode_events(t.events)) for t in trajectories])  # no SessionEnd
    assert out.reports == []
    replayer.finish()
    assert out.by_id() == expected(trajectories, close=False)
    assert replayer.counters.open_at_end == 5 and not any(r.final for r in out.reports)


def test_lookback_completes_sessions_straddling_the_range_start() -> None:
    trajectories = synthetic(8)
    messages = interleave(trajectories)
    start = len(messages) // 2
    out = Collect()
    replayer = Replayer({0: start}, out, pipeline_version=V)
    feed(replayer, messages)  # read from the lookback offset 0; emit only what touches [start, end)
    replayer.finish()
    touched = {m[1].decode() for m in messages[start:]}
    assert 0 < len(touched) < len(trajectories)
    assert out.by_id() == {tid: rec for tid, rec in expected(trajectories).items() if tid in touched}


def test_sessions_begun_before_the_lookback_are_skipped_or_marked_partial() -> None:
    trajectories = synthetic(8)
    messages = interleave(trajectories)
    start = len(messages) // 2
    complete = {m[1].decode() for m in messages[start:]} - {m[1].decode() for m in messages[:start]}
    skipped, written = Collect(), Collect()
    for out, partial in ((skipped, False), (written, True)):
        replayer = Replayer({0: start}, out, pipeline_version=V, write_partial=partial)
        feed(replayer, messages, first=start)  # no lookback
        replayer.finish()
    assert {r.id for r in skipped.reports} == complete
    partial_ids = {r.id for r in written.reports} - complete
    assert partial_ids and all(not r.final for r in written.reports if r.id in partial_ids)
    assert all(any(x.startswith("partial:") for x in r.reasons) for r in written.reports if r.id in partial_ids)


def test_bad_messages_are_counted_and_handed_to_the_output() -> None:
    out = Collect()
    replayer = Replayer({0: 0}, out, pipeline_version=V)
    good = synthetic(1)[0]
    messages: list[Message] = [(0, None, b"{not json"), (0, b"x", b""), (0, b"other", encode_events(good.events)),
                               (0, good.id.encode(), encode_events(with_end(good)))]
    feed(replayer, messages)
    replayer.finish()
    assert replayer.counters.rejected == {"json": 1, "empty": 1, "key_mismatch": 1}
    assert [offset for offset, _ in out.rejected] == [0, 1, 2]
    assert out.by_id() == expected([good])


def test_late_events_after_the_close_are_counted_not_re_emitted() -> None:
    out = Collect()
    replayer = Replayer({0: 0}, out, pipeline_version=V)
    t = synthetic(1)[0]
    events = with_end(t)
    feed(replayer, [(0, t.id.encode(), encode_events(events)), (0, t.id.encode(), encode_events(events[:1]))])
    replayer.finish()
    assert len(out.reports) == 1 and replayer.counters.late == 1


def test_inactivity_in_event_time_closes_sessions_like_the_worker() -> None:
    quiet, later = synthetic(2)
    later = Trajectory(id=later.id, events=[msgspec.structs.replace(e, ts=e.ts + 7200) for e in later.events])
    out = Collect()
    replayer = Replayer({0: 0}, out, pipeline_version=V, gap_s=1800)
    feed(replayer, [(0, quiet.id.encode(), encode_events(quiet.events)),
                    (0, later.id.encode(), encode_events(later.events))])
    assert [r.id for r in out.reports] == [quiet.id] and out.reports[0].final
    assert out.by_id()[quiet.id] == json.loads(encode_report(analyze(quiet.id, quiet.events, pipeline_version=V)))


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_resume_from_the_restart_offset_gives_the_same_records(fraction: float) -> None:
    trajectories = synthetic(10)
    messages = interleave(trajectories)
    stop_after = int(len(messages) * fraction)
    whole = Collect()
    replayer = Replayer({0: 0}, whole, pipeline_version=V)
    feed(replayer, messages)
    replayer.finish()

    resumed = Collect()
    first = Replayer({0: 0}, resumed, pipeline_version=V)
    feed(first, messages[:stop_after])
    restart = first.restart_offset(0, default=0)
    assert restart <= stop_after
    assert restart == min([stop_after, *(o.first_offset for o in first.open.values())])
    second = Replayer({0: 0}, resumed, pipeline_version=V)
    feed(second, messages, first=restart)
    second.finish()
    assert resumed.by_id() == whole.by_id()  # later records of an id win, as in ClickHouse


def test_the_workers_idle_ticks_are_skipped_not_rejected() -> None:
    tick = [("x-signals-control", b"tick")]  # what the worker's quiet-partition timer sends
    out = Collect()
    replayer = Replayer({0: 0}, out, pipeline_version=V)
    good = synthetic(1)[0]
    replayer.message(0, 0, None, b"", tick)  # as the worker sends it: no key, empty value
    replayer.message(0, 1, good.id.encode(), encode_events(with_end(good)), [])
    replayer.message(0, 2, None, b"", tick)
    replayer.batch_done(0)
    replayer.finish()
    assert replayer.counters.rejected == {} and out.rejected == []
    assert replayer.counters.ticks == 2 and replayer.counters.messages == 3
    assert out.by_id() == expected([good])
