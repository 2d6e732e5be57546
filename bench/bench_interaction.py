"""Cost of the interaction detectors per user/assistant message on the τ-bench dev trajectories.

    .venv/bin/python bench/bench_interaction.py [path/to/tau-bench.json] [--repeat N]

Feeds every user and assistant message (in order, one session state per trajectory) through the
four interaction detectors, each message a fresh EventView (so normalisation and the automaton pass
are counted), and prints microseconds per message.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from detectors.base import EventView
from detectors.interaction.disengagement import Disengagement
from detectors.interaction.misalignment import Misalignment
from detectors.interaction.satisfaction import Satisfaction
from detectors.interaction.stagnation import Stagnation
from detectors.lexicon import matcher
from detectors.model import AssistantMessage, Event, UserMessage

DEFAULT_PATH = str(Path(__file__).resolve().parents[2] / "shared/data/tau-bench/gpt-4o-airline-dev.json")  # beside the repo
DETECTORS = (Misalignment(), Stagnation(), Disengagement(), Satisfaction())


def messages(trajectory: dict[str, Any], name: str) -> list[Event]:
    events: list[Event] = []
    for message in trajectory["traj"]:
        role, text = message.get("role"), message.get("content") or ""
        cls = {"user": UserMessage, "assistant": AssistantMessage}.get(role)
        if cls is not None and text:
            events.append(cls(trajectory_id=name, seq=len(events), text=text))
    return events


def run(trajectories: list[list[Event]]) -> int:
    signals = 0
    for events in trajectories:
        states = [d.state_type() for d in DETECTORS]
        for event in events:
            view = EventView(event)
            for detector, state in zip(DETECTORS, states, strict=True):
                if view.kind in detector.kinds:
                    signals += len(detector.on_event(state, view))
    return signals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=DEFAULT_PATH)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with open(args.path, encoding="utf-8") as handle:
        data = json.load(handle)
    trajectories = [messages(t, f"t{i}") for i, t in enumerate(data)]
    count = sum(map(len, trajectories))
    matcher()  # compile the lexicons outside the timed loop
    best = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        signals = run(trajectories)
        best = min(best, time.perf_counter() - start)
    print(f"{count} messages in {len(trajectories)} trajectories, {signals} signals")
    print(f"best of {args.repeat}: {best * 1e3:.1f} ms total, {best / count * 1e6:.1f} µs/message")


if __name__ == "__main__":
    main()
