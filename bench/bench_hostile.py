"""Cost of hostile input, measured (the unit tests assert behaviour only, no wall-clock bounds).

    .venv/bin/python bench/bench_hostile.py [--repeat 3]

Each case runs at a small and a large size, best of ``--repeat``; the ratio shows how cost grows
(linear: about the size ratio; capped scanning: about 1; quadratic: the size ratio squared).
Cases: an out-of-order flood (every event displaced within the reorder window), one huge message
per turn, a 10k-message conversation through the adapter, a 5 MB tool result.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable

from detectors.adapters.detect import parse_trajectories
from detectors.model import AssistantMessage, Event, ToolCall, ToolResult, UserMessage
from detectors.session import Session, analyze


def mixed_event(seq: int) -> Event:
    kind = seq % 4
    if kind == 0:
        return UserMessage(trajectory_id="t", seq=seq, ts=float(seq), text=f"no, I said flight HAT{seq % 97:03d}")
    if kind == 1:
        return AssistantMessage(trajectory_id="t", seq=seq, ts=float(seq), text=f"Let me check reservation {seq}.")
    if kind == 2:
        return ToolCall(trajectory_id="t", seq=seq, ts=float(seq), tool="get_reservation", call_id=f"c{seq}",
                        arguments={"id": seq % 13})
    return ToolResult(trajectory_id="t", seq=seq, ts=float(seq), tool="get_reservation", call_id=f"c{seq - 1}",
                      result="error: not found" if seq % 8 == 3 else '{"status": "ok"}')


def flood(n: int) -> Callable[[], object]:
    order = list(range(n))
    rng = random.Random(1)
    for start in range(0, n, 200):
        block = order[start:start + 200]
        rng.shuffle(block)
        order[start:start + 200] = block
    events = [mixed_event(seq) for seq in order]

    def run() -> object:
        session = Session("t")
        for event in events:
            session.feed(event)
        session.close()
        return session.report()
    return run


def huge_messages(size: int) -> Callable[[], object]:
    text = ("please help me change my flight " * (size // 32 + 1))[:size]
    events = [UserMessage(trajectory_id="t", seq=0, text=text), AssistantMessage(trajectory_id="t", seq=1, text=text),
              UserMessage(trajectory_id="t", seq=2, text=text.upper())]
    return lambda: analyze("t", events)


def long_conversation(n: int) -> Callable[[], object]:
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message number {i} about flights"}
                for i in range(n)]
    data = json.dumps({"messages": messages}).encode()

    def run() -> object:
        (trajectory,) = parse_trajectories(data)
        return analyze(trajectory.id, trajectory.events)
    return run


def big_tool_result(size: int) -> Callable[[], object]:
    messages = [{"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "dump", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "Error: rate limit exceeded\n" + "row " * (size // 4)}]
    (trajectory,) = parse_trajectories(json.dumps(messages).encode())
    return lambda: analyze(trajectory.id, trajectory.events)


CASES = [("out-of-order flood (events)", flood, 10_000, 100_000),
         ("three huge messages (bytes each)", huge_messages, 10_000, 1 << 20),
         ("one conversation (messages)", long_conversation, 1_000, 10_000),
         ("one tool result (bytes)", big_tool_result, 50_000, 5 << 20)]


def best(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for name, make, small, large in CASES:
        t_small, t_large = best(make(small), args.repeat), best(make(large), args.repeat)
        print(f"{name}: {small:,} -> {t_small * 1000:.1f} ms; {large:,} -> {t_large * 1000:.1f} ms; "
              f"cost x{t_large / t_small:.1f} for size x{large / small:.0f}")


if __name__ == "__main__":
    main()
