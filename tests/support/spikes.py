"""A synthetic stream for the alert tests: a steady agent with one spike, and what the detector makes of it.

- ``spike_workload()``: trajectories of ``steady-bot`` (``STEADY`` corrections per window, ``SPIKE`` more
  in window ``SPIKE_WINDOW``) and of ``marker-bot`` (a burst in window ``MARKER_WINDOW``, the last one:
  its alert proves every earlier window has closed), then one trajectory far ahead that closes them;
- ``ALERT_SETTINGS`` / ``ALERT_FLAGS`` / ``alert_config()``: the small windows the tests run with (as
  Settings fields, worker flags and the detector's ``AlertConfig``);
- ``signal_items(trajectories)``: (partition, agent, signal type, event time) of every signal, as the
  pipeline produces them (``Update.times``), each trajectory on its worker partition;
- ``expected_alerts(...)``: the detector over those signals (the oracle of the integration test).
"""

from __future__ import annotations

import msgspec
from aiokafka.partitioner import murmur2

from detectors.adapters import Trajectory
from streams.alerts import Alert, AlertConfig, SpikeDetector
from streams.pipeline import Group, MemoryStore, Outcome, Pipeline, ended
from streams.settings import Settings
from tests.builders import A, U, conv

WINDOW_S, T0 = 60, 1_700_000_040  # T0: a window boundary
STEADY, SPIKE, SPIKE_WINDOW, WINDOWS, MARKER_WINDOW = 2, 12, 7, 11, 10
ALERT_SETTINGS = {"alert_window_s": WINDOW_S, "alert_grace_s": 5, "alert_baseline_windows": 3, "alert_ratio": 3,
                  "alert_min_count": 5, "alert_cooldown_s": 0, "alert_idle_s": 3}  # Settings fields
ALERT_FLAGS = tuple(f"--{name.replace('_', '-')}={value}" for name, value in ALERT_SETTINGS.items())


def alert_config() -> AlertConfig:
    return Settings.from_env(ALERT_SETTINGS, env={}).alert_config()


def corrected(tid: str, agent: str, start: float) -> Trajectory:
    """One correction (interaction.misalignment.correction) at ``start`` + 4 s."""
    events = conv(tid, U("Book a flight to Paris"), A("Sure, which date?"),
                  U("No, that's wrong, I said Paris not Rome"), A("Fixed, Paris it is."), start_ts=start, step=2.0)
    return Trajectory(id=tid, events=[msgspec.structs.replace(e, agent_id=agent) for e in events])


def spike_workload(prefix: str = "spk") -> list[Trajectory]:
    out = []
    for w in range(WINDOWS):
        n = STEADY + (SPIKE if w == SPIKE_WINDOW else 0)
        out += [corrected(f"{prefix}-s{w}-{i}", "steady-bot", T0 + w * WINDOW_S + 2 * i) for i in range(n)]
    out += [corrected(f"{prefix}-m{i}", "marker-bot", T0 + MARKER_WINDOW * WINDOW_S + 2 * i) for i in range(6)]
    out.append(corrected(f"{prefix}-late", "closer-bot", T0 + (WINDOWS + 3) * WINDOW_S))
    return sorted(out, key=lambda t: t.events[0].ts or 0.0)


def partition_of(trajectory_id: str, partitions: int) -> int:
    return int(murmur2(trajectory_id.encode()) & 0x7FFFFFFF) % partitions


def signal_items(trajectories: list[Trajectory], partitions: int = 4) -> list[tuple[int, str, str, float | None]]:
    pipeline, out = Pipeline(MemoryStore(), closed_retention_s=0.0), []
    for trajectory in trajectories:
        outcome = Outcome()
        pipeline.apply({trajectory.id.encode(): Group(None, 0, ended(trajectory))}, 0.0, outcome)
        for update in outcome.updates:
            agent = update.report("").agent_id
            out += [(partition_of(trajectory.id, partitions), agent, s.type, ts)
                    for s, ts in zip(update.signals, update.times, strict=True)]
        pipeline.forget(trajectory.id.encode())
    return out


def expected_alerts(trajectories: list[Trajectory], partitions: int = 4, *, one_partition_after_another: bool = False
                    ) -> list[Alert]:
    """The detector over the signals in stream order, or each partition's whole stream in turn (the
    last partition first): another interleaving of the same per-partition streams."""
    detector, alerts = SpikeDetector(alert_config(), range(partitions)), []
    items = signal_items(trajectories, partitions)
    if one_partition_after_another:
        items.sort(key=lambda item: -item[0])  # stable: each partition keeps its order
    for partition, agent, kind, ts in items:
        alerts += detector.observe(partition, agent, kind, ts)
    for partition in range(partitions):
        alerts += detector.set_idle(partition)
    return alerts
