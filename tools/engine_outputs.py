"""Dump everything the engine produces on trajectory files fed event by event, to diff two checkouts.

    PYTHONHASHSEED=0 python tools/engine_outputs.py PATH... > out.txt

One line per event (the signals it returned, JSON, and the sha256 of the encoded state after it),
then per trajectory the close signals, the final state's sha256 and the report (JSON). Run it in
both checkouts with the same PYTHONHASHSEED (a fingerprint's sketch follows set order) and diff.
"""

from __future__ import annotations

import hashlib
import sys

import msgspec

from detectors.adapters import read_trajectories
from detectors.session import DEFAULT_ENGINE, Session


def main() -> None:
    encode = msgspec.json.encode
    out = sys.stdout
    for path in sys.argv[1:]:
        for trajectory in read_trajectories(path):
            session = Session(trajectory.id)
            out.write(f"T {trajectory.id}\n")
            for event in trajectory.events:
                signals = session.feed(event)
                state = hashlib.sha256(DEFAULT_ENGINE.encode_state(session.state)).hexdigest()[:16]
                out.write(f"E {event.seq} {state} {encode(signals).decode()}\n")
            closing = session.close()
            state = hashlib.sha256(DEFAULT_ENGINE.encode_state(session.state)).hexdigest()
            out.write(f"C {state} {encode(closing).decode()}\n")
            out.write(f"R {encode(session.report()).decode()}\n")


if __name__ == "__main__":
    main()
