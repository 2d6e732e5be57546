"""Cost of the execution and environment detectors per tool event, on the τ-bench dev file.

    .venv/bin/python bench/bench_execution.py [PATH] [--repeat 20]

Prints µs per tool event for: the error classifier alone (per tool result; shared by features and the
failure/exhaustion detectors), the loop detector alone (per tool call), and the end-to-end overhead of
the three detectors in a session (engine with them minus an engine without detectors).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from detectors.adapters import read_trajectories
from detectors.base import CallRef, EventView
from detectors.environment.exhaustion import ExhaustionDetector
from detectors.execution.classify import ErrorClassifier
from detectors.execution.failure import FailureDetector
from detectors.execution.loops import LoopDetector, LoopState
from detectors.model import Event, ToolCall, ToolResult
from detectors.session import Engine, analyze
from detectors.tools import args_key

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "shared/data/tau-bench/gpt-4o-airline-dev.json"


def per_item(seconds: float, items: int) -> str:
    return f"{seconds * 1e6 / items:.2f} µs"


def bench_classifier(results: list[ToolResult], repeat: int) -> float:
    classifier = ErrorClassifier()
    start = time.perf_counter()
    for _ in range(repeat):
        for result in results:
            classifier.classify(result)
    return time.perf_counter() - start


def bench_loops(trajectories: list[list[Event]], repeat: int) -> float:
    detector = LoopDetector()
    views = [[EventView(e, CallRef(e.tool, e.seq, args_key(e.arguments))) for e in events if isinstance(e, ToolCall)]
             for events in trajectories]
    start = time.perf_counter()
    for _ in range(repeat):
        for trajectory in views:
            state = LoopState()
            for view in trajectory:
                detector.on_event(state, view)
    return time.perf_counter() - start


def bench_engine(trajectories: list[list[Event]], engine: Engine, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        for events in trajectories:
            analyze(events[0].trajectory_id, events, engine=engine)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=str(DEFAULT_PATH))
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    trajectories = [t.events for t in read_trajectories(args.path) if t.events]
    results = [e for events in trajectories for e in events if isinstance(e, ToolResult)]
    n_calls = sum(isinstance(e, ToolCall) for events in trajectories for e in events)
    mine = Engine([FailureDetector(), LoopDetector(), ExhaustionDetector()])
    found = Counter(s.type for events in trajectories for s in analyze("t", events, engine=mine).signals)
    print(f"{len(trajectories)} trajectories, {n_calls} tool calls, {len(results)} tool results; signals: {dict(found)}")
    r = args.repeat
    print(f"classifier: {per_item(bench_classifier(results, r), r * len(results))} per tool result")
    print(f"loop detector: {per_item(bench_loops(trajectories, r), r * n_calls)} per tool call")
    overhead = bench_engine(trajectories, mine, r) - bench_engine(trajectories, Engine([]), r)
    print(f"session overhead of the 3 detectors: {per_item(overhead, r * (n_calls + len(results)))} per tool event")


if __name__ == "__main__":
    main()
