"""`signals produce`'s message order (streams/cli/commands/produce.py ``messages``): one trajectory
after the other, or N open at once with one message of each in turn."""

from __future__ import annotations

from detectors.adapters import Trajectory
from detectors.model import SessionEnd
from streams.cli.commands.produce import Summary, messages
from tests.builders import A, U, conv


def trajectories(*lengths: int) -> list[Trajectory]:
    return [Trajectory(id=f"t{i}", events=conv(f"t{i}", *[U("hi") if k % 2 == 0 else A("ok") for k in range(n)]))
            for i, n in enumerate(lengths)]


def order(data: list[Trajectory], batch: int, concurrent: int) -> list[tuple[bytes, list[int]]]:
    return [(key, [e.seq for e in part]) for key, part in messages(data, batch, concurrent, Summary())]


def test_one_at_a_time_each_trajectory_is_sent_whole_and_ended() -> None:
    data = trajectories(2, 3)
    assert order(data, 2, 1) == [(b"t0", [0, 1]), (b"t0", [2]), (b"t1", [0, 1]), (b"t1", [2, 3])]
    parts = [part for _, part in messages(data, 10, 1, Summary())]
    assert all(isinstance(part[-1], SessionEnd) for part in parts)


def test_concurrent_trajectories_take_turns_and_an_ended_one_makes_room_for_the_next() -> None:
    summary = Summary()
    sent = [(key, [e.seq for e in part]) for key, part in messages(trajectories(1, 3, 1), 1, 2, summary)]
    assert sent == [(b"t0", [0]), (b"t1", [0]), (b"t0", [1]), (b"t1", [1]),  # t0 ends (seq 1 is its end) ...
                    (b"t1", [2]), (b"t2", [0]), (b"t1", [3]), (b"t2", [1])]  # ... and t2 starts
    assert summary.trajectories == 3


def test_concurrency_changes_the_order_not_what_is_sent() -> None:
    data = trajectories(5, 2, 7, 1, 4)
    one = sorted(order(data, 3, 1))
    for concurrent in (2, 3, 50):
        assert sorted(order(data, 3, concurrent)) == one
