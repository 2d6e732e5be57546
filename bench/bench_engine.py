"""Detection engine speed: batch analysis of a trajectory file, and per-event cost when fed live.

    .venv/bin/python bench/bench_engine.py [PATH...] [--repeat 10]

Instructions per event, repeatable on a busy machine (callgrind counts only the feed loop, which
``--callgrind`` runs once inside ``functools.reduce``, after a warm-up):

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce \
        .venv/bin/python bench/bench_engine.py --callgrind PATH...    # then: Collected / events

Default PATH is the τ-bench dev file beside the repository (../shared/data/tau-bench/...).
The reference analyzer (compiled Rust) takes ~2.6 ms per τ-bench trajectory and recomputes the whole
conversation on every request.
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

from detectors.adapters import read_trajectories
from detectors.session import DEFAULT_ENGINE, Session, analyze

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "shared/data/tau-bench/gpt-4o-airline-dev.json"


def bench_batch(trajectories: list, repeat: int) -> tuple[float, int]:
    start = time.perf_counter()
    for _ in range(repeat):
        for trajectory in trajectories:
            analyze(trajectory.id, trajectory.events)
    return time.perf_counter() - start, repeat * len(trajectories)


def bench_feed(trajectories: list, repeat: int, *, round_trip: bool) -> tuple[float, int]:
    """Event by event; with round_trip the state is encoded/decoded per event (worst case)."""
    events = 0
    start = time.perf_counter()
    for _ in range(repeat):
        for trajectory in trajectories:
            session = Session(trajectory.id)
            for event in trajectory.events:
                if round_trip:
                    state = DEFAULT_ENGINE.decode_state(DEFAULT_ENGINE.encode_state(session.state))
                    session = Session(trajectory.id, state=state)
                session.feed(event)
            session.close()
            session.report()
            events += len(trajectory.events)
    return time.perf_counter() - start, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=[str(DEFAULT_PATH)], metavar="PATH")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--callgrind", action="store_true", help="only the feed loop, once, inside functools.reduce")
    args = parser.parse_args()
    trajectories = [t for path in args.paths for t in read_trajectories(path)]
    if args.callgrind:
        for trajectory in trajectories[:20]:  # warm-up outside the counted call
            analyze(trajectory.id, trajectory.events)
        functools.reduce(lambda _, __: bench_feed(trajectories, 1, round_trip=False), [0, 1])
        print(f"{sum(len(t.events) for t in trajectories)} events fed; instructions per event = Collected / events")
        return
    n_events = sum(len(t.events) for t in trajectories)
    print(f"{len(trajectories)} trajectories, {n_events} events, {len(DEFAULT_ENGINE.detectors)} detectors")
    analyze(trajectories[0].id, trajectories[0].events)  # warm caches (lexicon automaton)
    seconds, count = bench_batch(trajectories, args.repeat)
    print(f"batch: {seconds * 1000 / count:.3f} ms/trajectory, {count * n_events / len(trajectories) / seconds:,.0f} events/s "
          f"({count} trajectories in {seconds:.2f} s; reference ~2.6 ms/trajectory)")
    for round_trip in (False, True):
        seconds, events = bench_feed(trajectories, args.repeat, round_trip=round_trip)
        label = "feed + state bytes round-trip per event" if round_trip else "feed event by event"
        print(f"{label}: {events / seconds:,.0f} events/s, {seconds * 1e6 / events:.1f} µs/event")


if __name__ == "__main__":
    main()
