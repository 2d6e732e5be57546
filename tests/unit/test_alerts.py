"""The spike detector (streams/alerts.py): windows, baseline, spike, grace, cool-down, bounded state, determinism."""

from __future__ import annotations

import random

import pytest

from streams.alerts import Alert, AlertConfig, SpikeDetector, alert_key, encode_alert

W = 300
T0 = 1_700_000_100 // W * W  # a window boundary
CONFIG = AlertConfig(window_s=W, grace_s=60, baseline_windows=4, ratio=3.0, min_count=10, floor=1.0,
                     cooldown_s=900)
FAIL = "execution.failure"


def steady_then_spike(windows: int = 10, per_window: int = 4, spike_at: int = 7, spike: int = 30,
                      agent: str = "agent-a", category: str = "execution.failure.bad_query") -> list[tuple[str, str, float]]:
    """``per_window`` signals in each window, ``spike`` in window ``spike_at``; then one signal far
    enough ahead to close every window."""
    out = []
    for w in range(windows):
        n = spike if w == spike_at else per_window
        out += [(agent, category, T0 + w * W + (i * W) / n) for i in range(n)]
    out.append((agent, category, T0 + (windows + 1) * W + CONFIG.grace_s))
    return out


def run(signals: list[tuple[str, str, float]], config: AlertConfig = CONFIG, sources: int = 1) -> tuple[list[Alert], SpikeDetector]:
    detector = SpikeDetector(config, range(sources))
    alerts = []
    for agent, category, ts in signals:
        alerts += detector.observe(0, agent, category, ts)
    return alerts, detector


def test_a_spike_fires_once_and_the_steady_part_never_does() -> None:
    alerts, detector = run(steady_then_spike())
    assert alerts == [Alert(agent_id="agent-a", category=FAIL, window_start=T0 + 7 * W, window_end=T0 + 8 * W,
                            count=30, baseline=4.0, threshold=12.0)]
    assert detector.counters.closed_windows == 10  # the ten windows with signals closed, nine of them quiet
    assert detector.counters.late == 0


def test_no_alert_without_a_spike_even_at_the_minimum_count() -> None:
    alerts, detector = run(steady_then_spike(per_window=11, spike=11))  # >= min_count every window, ratio 1
    assert detector.counters.closed_windows == 10 and alerts == []


def test_warm_up_a_key_without_history_does_not_alert() -> None:
    alerts, _ = run(steady_then_spike(spike_at=2))  # window 2 < first window + 4 baseline windows
    assert alerts == []


def test_ratio_and_minimum_count_both_needed() -> None:
    few = steady_then_spike(per_window=1, spike=9)  # 9 >= 3 x 1 but < min_count 10
    assert run(few)[0] == []
    just = steady_then_spike(per_window=1, spike=10)
    assert [a.count for a in run(just)[0]] == [10]


def test_a_window_without_signals_counts_zero_in_the_baseline() -> None:
    signals = [s for s in steady_then_spike(per_window=8, spike=16) if not T0 + 5 * W <= s[2] < T0 + 7 * W]
    # windows 5 and 6 empty: baseline of window 7 = (8 + 8 + 0 + 0) / 4 = 4, threshold 12 -> 16 alerts
    [alert] = run(signals)[0]
    assert (alert.window_start, alert.baseline, alert.count) == (T0 + 7 * W, 4.0, 16)


def test_a_window_closes_only_after_its_grace() -> None:
    detector = SpikeDetector(CONFIG)
    for w in range(5):
        for i in range(2):
            detector.observe(0, "a", FAIL, T0 + w * W + i)
    for i in range(30):
        detector.observe(0, "a", FAIL, T0 + 5 * W + i)
    assert detector.observe(0, "a", FAIL, T0 + 6 * W + CONFIG.grace_s - 1) == []  # grace not over yet
    [alert] = detector.advance(0, T0 + 6 * W + CONFIG.grace_s)
    assert alert.window_start == T0 + 5 * W


def test_late_data_within_grace_counts_and_after_it_is_dropped() -> None:
    detector = SpikeDetector(CONFIG)
    detector.observe(0, "a", FAIL, T0 + W + 30)  # the next window; window 0 still open (grace 60)
    detector.observe(0, "a", FAIL, T0 + 10)  # late but within grace: counted
    assert (detector.counters.signals, detector.counters.late) == (2, 0)
    detector.advance(0, T0 + W + CONFIG.grace_s)  # window 0 closes
    detector.observe(0, "a", FAIL, T0 + 20)
    assert (detector.counters.signals, detector.counters.late) == (2, 1)
    detector.observe(0, "a", FAIL, None)
    assert detector.counters.untimed == 1


def test_cool_down_suppresses_the_next_spikes_of_the_key_only() -> None:
    signals = []
    for w in range(12):
        n = 30 if w in (5, 7, 10) else 2
        signals += [("a", FAIL, T0 + w * W + i) for i in range(n)]
        signals += [("b", FAIL, T0 + w * W + i) for i in range(30 if w == 7 else 2)]
    signals.append(("a", FAIL, T0 + 13 * W + 60))
    alerts, detector = run(signals)
    # a: window 5 alerts; 7 is inside the cool-down (until window 5's end + 900 s = window 9); 10 alerts
    assert [(a.agent_id, (a.window_start - T0) // W) for a in alerts] == [("a", 5), ("b", 7), ("a", 10)]
    assert detector.counters.cooled_down == 1


def test_the_category_of_a_signal_type_is_its_first_two_parts() -> None:
    alerts, _ = run(steady_then_spike(category="environment.exhaustion.timeout"))
    assert [a.category for a in alerts] == ["environment.exhaustion"]


def test_state_is_bounded_by_keys_and_open_windows() -> None:
    config = AlertConfig(window_s=W, max_keys=3, max_open_windows=2)
    detector = SpikeDetector(config)
    for agent in "abcde":
        detector.observe(0, agent, FAIL, T0)
    assert list(detector.keys) == [("c", FAIL), ("d", FAIL), ("e", FAIL)]
    assert detector.counters.evicted_keys == 2
    idle = SpikeDetector(config, sources=(0, 1))  # source 1 never speaks: nothing closes
    for w in range(5):
        idle.observe(0, "a", FAIL, T0 + w * W)
    assert sorted(idle.keys[("a", FAIL)].open) == [T0, T0 + W]  # the latest windows gave way
    assert idle.counters.evicted_windows == 3


def test_closed_keys_are_forgotten_after_their_history_and_cool_down() -> None:
    _, detector = run(steady_then_spike())
    detector.advance(0, T0 + 40 * W)
    assert detector.keys == {}  # nothing left to remember: history and cool-down both over


def test_the_watermark_is_the_slowest_source_until_it_is_idle() -> None:
    detector = SpikeDetector(CONFIG, sources=(0, 1))
    for w in range(6):
        for i in range(2 if w < 5 else 30):
            detector.observe(0, "a", FAIL, T0 + w * W + i)
    assert detector.advance(0, T0 + 10 * W) == []  # source 1 has said nothing: window 5 stays open
    assert [a.window_start for a in detector.set_idle(1)] == [T0 + 5 * W]
    detector.observe(1, "a", FAIL, T0 + 10 * W)  # source 1 speaks again: active, holding the watermark
    assert 1 not in detector.idle


def test_same_alerts_for_any_batching_interleaving_and_replay() -> None:
    rng = random.Random(7)
    signals = steady_then_spike(windows=20, spike_at=9) + [
        (agent, cat, ts) for agent, cat, ts in steady_then_spike(windows=20, spike_at=14, agent="agent-b",
                                                                 category="interaction.misalignment.correction")]
    by_source: dict[int, list[tuple[str, str, float]]] = {0: [], 1: [], 2: []}
    for signal in sorted(signals, key=lambda s: s[2]):
        by_source[rng.randrange(3)].append(signal)

    def replay(seed: int) -> list[Alert]:
        order = random.Random(seed)
        detector = SpikeDetector(CONFIG, sources=range(3))
        cursors, out = dict.fromkeys(by_source, 0), []
        while any(cursors[s] < len(by_source[s]) for s in by_source):
            source = order.choice([s for s in by_source if cursors[s] < len(by_source[s])])
            size = order.randint(1, 40)
            batch = by_source[source][cursors[source]:cursors[source] + size]
            cursors[source] += size
            batch = sorted(batch, key=lambda _: order.random())  # disorder inside a batch: sorted by the detector
            out += detector.observe_batch(source, batch)
        for source in by_source:
            out += detector.set_idle(source)
        assert detector.counters.late == 0
        return out

    first = replay(0)
    assert [(a.agent_id, (a.window_start - T0) // W) for a in first] == [("agent-a", 9), ("agent-b", 14)]
    assert all(replay(seed) == first for seed in range(1, 12))


def test_alert_record_and_key() -> None:
    [alert] = run(steady_then_spike())[0]
    assert alert_key(alert) == f"agent-a|{FAIL}|{T0 + 7 * W}".encode()
    assert encode_alert(alert).startswith(b'{"agent_id":"agent-a","category":"execution.failure","window_start":')
    assert "30 signals in the 300s window" in alert.text


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        SpikeDetector(AlertConfig(window_s=0))


def test_the_pipelines_signals_spike_once_whatever_the_order_of_the_partitions() -> None:
    from tests.support.spikes import (
        SPIKE,
        SPIKE_WINDOW,
        STEADY,
        T0,
        WINDOW_S,
        expected_alerts,
        spike_workload,
    )

    data = spike_workload()
    alerts = expected_alerts(data)
    assert [(a.agent_id, a.category, (a.window_start - T0) // WINDOW_S, a.count) for a in alerts] == [
        ("steady-bot", "interaction.misalignment", SPIKE_WINDOW, STEADY + SPIKE),
        ("marker-bot", "interaction.misalignment", 10, 6)]
    assert alerts[0].baseline == STEADY
    assert expected_alerts(data, one_partition_after_another=True) == alerts  # another interleaving, the same alerts


class _NoOutput:
    def emit(self, report, events) -> None:
        pass

    def reject(self, partition, offset, key, value, rejected) -> None:
        pass


def test_a_replay_of_the_input_topic_gives_the_workers_alerts() -> None:
    from streams.codec import encode_events
    from streams.pipeline import ended
    from streams.replay import Replayer
    from tests.support.spikes import alert_config, expected_alerts, partition_of, spike_workload

    data = spike_workload()
    topic: dict[int, list[tuple[bytes, bytes]]] = {p: [] for p in range(4)}
    for trajectory in data:  # as `signals produce --batch 2` writes them
        events = ended(trajectory)
        for i in range(0, len(events), 2):
            topic[partition_of(trajectory.id, 4)].append((trajectory.id.encode(), encode_events(events[i:i + 2])))

    def replay(fetch: int) -> list[Alert]:
        detector, alerts = SpikeDetector(alert_config(), range(4)), []
        replayer = Replayer(dict.fromkeys(topic, 0), _NoOutput(), pipeline_version="",
                            on_signal=lambda p, agent, kind, ts: alerts.extend(detector.observe(p, agent, kind, ts)))
        for partition in sorted(topic, reverse=fetch % 2 == 1):
            for offset, (key, value) in enumerate(topic[partition]):
                replayer.message(partition, offset, key, value)
                if offset % fetch == fetch - 1:
                    replayer.batch_done(partition)
            replayer.batch_done(partition)
        for partition in topic:
            alerts += detector.set_idle(partition)
        return alerts

    want = expected_alerts(data)
    assert len(want) == 2
    assert replay(1) == want and replay(7) == want and replay(1000) == want
