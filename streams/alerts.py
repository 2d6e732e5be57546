"""Spike alerts: event-time tumbling windows of signal counts per (agent, category) against a trailing baseline.

Pure (no Faust, no I/O, no wall clock): the worker's alerts agent (``streams/worker/alerts_agent.py``)
and the tests feed it signals with their event time and the partition ("source") they came from.

- Windows: ``[k * window_s, (k + 1) * window_s)`` in event time (epoch seconds), per key (agent id,
  signal category, e.g. ``execution.failure``).
- Watermark: each source's watermark is the largest event time it has delivered; the detector's
  watermark is the smallest over the sources that are not idle (when every source is idle, the
  largest). A window closes once the watermark reaches its end + ``grace_s``; a signal for a window
  that is already closed is *late*: counted in ``counters.late`` and dropped. Marking a source idle
  (the adapter does it, e.g. after a quiet wall-clock spell) stops it holding the others back; its
  next signal makes it active again.
- Baseline of a closed window: the mean count of the key's ``baseline_windows`` previous windows
  (a window without signals counts 0). Spike: ``count >= min_count`` and ``count >= ratio *
  max(baseline, floor)``. No alert for windows that start before the first window seen +
  ``baseline_windows`` windows (warm-up: no history yet).
- Cool-down: after an alert on a key, no other alert on that key for windows starting before the
  alert's window end + ``cooldown_s`` (event time).
- Bounded state: at most ``max_keys`` keys (the least recently fed is evicted first) and
  ``max_open_windows`` open windows per key (the latest ones give way); both counted.

Determinism: the alerts are a function of the signals (agent, category, event time) as long as no
signal arrives later than the grace period allows; then any batching, any interleaving of the
sources and any replay gives the same alerts, in the same order (window start, agent, category).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from detectors.model import category_of

Key = tuple[str, str]  # (agent id, category)


class AlertConfig(msgspec.Struct, frozen=True, kw_only=True):
    window_s: int = 300
    grace_s: float = 60.0
    baseline_windows: int = 12
    ratio: float = 3.0
    min_count: int = 10
    floor: float = 1.0  # the baseline never counts as less than this (a quiet key does not alert on 3 signals)
    cooldown_s: float = 1800.0
    max_keys: int = 10_000
    max_open_windows: int = 64


DEFAULT_CONFIG = AlertConfig()


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """One spike: the record on the alerts topic (JSON) and the row in ClickHouse's ``alerts``."""

    agent_id: str
    category: str
    window_start: int  # epoch seconds
    window_end: int
    count: int
    baseline: float
    threshold: float  # what the count had to reach
    pipeline_version: str = ""

    @property
    def text(self) -> str:
        """One line for people (the webhook's message)."""
        agent = self.agent_id or "(no agent id)"
        return (f"signal spike: {agent} {self.category}: {self.count} signals in the {self.window_end - self.window_start}s "
                f"window from {_iso(self.window_start)} (baseline {self.baseline:.1f}, threshold {self.threshold:.1f})")


def _iso(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Counters:
    signals: int = 0  # counted into a window
    late: int = 0  # for a window already closed: dropped
    untimed: int = 0  # no event time: dropped
    evicted_keys: int = 0
    evicted_windows: int = 0
    closed_windows: int = 0  # windows with signals that closed
    alerts: int = 0
    cooled_down: int = 0  # spikes not alerted because of the cool-down


@dataclass(slots=True)
class _KeyState:
    open: dict[int, int] = field(default_factory=dict)  # window start -> count
    closed: dict[int, int] = field(default_factory=dict)  # recent closed window start -> count (nonzero)
    quiet_until: float = -math.inf  # cool-down: no alert for windows starting before this


class SpikeDetector:
    def __init__(self, config: AlertConfig = DEFAULT_CONFIG, sources: Iterable[int] = (0,), *,
                 pipeline_version: str = "") -> None:
        if config.window_s <= 0 or config.baseline_windows <= 0 or config.max_keys <= 0 or config.max_open_windows <= 0:
            raise ValueError("window_s, baseline_windows, max_keys and max_open_windows must be positive")
        self.config, self.version = config, pipeline_version
        self.watermarks: dict[int, float] = dict.fromkeys(sources, -math.inf)
        self.idle: set[int] = set()
        self.closed_through = -math.inf  # every window ending at or before this is closed
        self.first_window: int | None = None
        self.keys: OrderedDict[Key, _KeyState] = OrderedDict()
        self.counters = Counters()

    # -- input -----------------------------------------------------------------------------
    def observe(self, source: int, agent_id: str, category: str, ts: float | None) -> list[Alert]:
        """One signal of ``category`` (a category, or a signal type: its category is used)."""
        if ts is None or not math.isfinite(ts):
            self.counters.untimed += 1
            return []
        start = self.window_of(ts)
        if start + self.config.window_s <= self.closed_through:
            self.counters.late += 1
        else:
            self._count((agent_id, _category(category)), start)
        self.idle.discard(source)
        return self.advance(source, ts)

    def observe_batch(self, source: int, signals: Iterable[tuple[str, str, float | None]]) -> list[Alert]:
        """Signals of one source (agent id, category, event time), fed in event-time order."""
        alerts: list[Alert] = []
        for agent_id, category, ts in sorted(signals, key=_time_order):
            alerts += self.observe(source, agent_id, category, ts)
        return alerts

    def advance(self, source: int, ts: float) -> list[Alert]:
        """The source has delivered everything up to event time ``ts``; returns the alerts of what closed."""
        if ts > self.watermarks.get(source, -math.inf):
            self.watermarks[source] = ts
        return self._close_due()

    def set_idle(self, source: int) -> list[Alert]:
        """The source is quiet: it no longer holds the watermark back (until its next signal)."""
        self.watermarks.setdefault(source, -math.inf)
        self.idle.add(source)
        return self._close_due()

    def window_of(self, ts: float) -> int:
        return int(ts // self.config.window_s) * self.config.window_s

    # -- state -----------------------------------------------------------------------------
    def _count(self, key: Key, start: int) -> None:
        config, keys = self.config, self.keys
        if self.first_window is None or start < self.first_window:
            self.first_window = start
        state = keys.get(key)
        if state is None:
            if len(keys) >= config.max_keys:
                keys.popitem(last=False)
                self.counters.evicted_keys += 1
            state = keys[key] = _KeyState()
        else:
            keys.move_to_end(key)
        if start not in state.open and len(state.open) >= config.max_open_windows:
            latest = max(state.open)
            self.counters.evicted_windows += 1
            if start > latest:
                return
            del state.open[latest]
        state.open[start] = state.open.get(start, 0) + 1
        self.counters.signals += 1

    def watermark(self) -> float:
        active = [w for s, w in self.watermarks.items() if s not in self.idle]
        return min(active) if active else max(self.watermarks.values(), default=-math.inf)

    def _close_due(self) -> list[Alert]:
        config = self.config
        mark = self.watermark() - config.grace_s
        if not math.isfinite(mark):
            return []
        through = math.floor(mark / config.window_s) * config.window_s
        if through <= self.closed_through:
            return []
        self.closed_through = through
        alerts: list[Alert] = []
        for key in list(self.keys):
            alerts += self._close_key(key, self.keys[key], through)
        alerts.sort(key=lambda a: (a.window_start, a.agent_id, a.category))
        return alerts

    def _close_key(self, key: Key, state: _KeyState, through: int) -> list[Alert]:
        config, out = self.config, []
        horizon = config.baseline_windows * config.window_s
        for start in sorted(s for s in state.open if s + config.window_s <= through):
            count = state.open.pop(start)
            self.counters.closed_windows += 1
            alert = self._judge(key, state, start, count)
            if alert is not None:
                out.append(alert)
            state.closed[start] = count
        state.closed = {s: n for s, n in state.closed.items() if s >= through - horizon}
        if not state.open and not state.closed and state.quiet_until <= through:
            del self.keys[key]
        return out

    def _judge(self, key: Key, state: _KeyState, start: int, count: int) -> Alert | None:
        config = self.config
        k, width = config.baseline_windows, config.window_s
        baseline = sum(state.closed.get(start - i * width, 0) for i in range(1, k + 1)) / k
        threshold = max(float(config.min_count), config.ratio * max(baseline, config.floor))
        warm = self.first_window is not None and start >= self.first_window + k * width
        if count < threshold or not warm:
            return None
        if start < state.quiet_until:
            self.counters.cooled_down += 1
            return None
        end = start + width
        state.quiet_until = end + config.cooldown_s
        self.counters.alerts += 1
        return Alert(agent_id=key[0], category=key[1], window_start=start, window_end=end, count=count,
                     baseline=round(baseline, 6), threshold=round(threshold, 6), pipeline_version=self.version)


def _category(category_or_type: str) -> str:
    """``execution.failure`` stays; ``execution.failure.bad_query`` -> ``execution.failure``."""
    return category_or_type if category_or_type.count(".") <= 1 else category_of(category_or_type)


def _time_order(signal: tuple[str, str, float | None]) -> tuple[float, str, str]:
    ts = signal[2]
    return (-math.inf if ts is None else ts, signal[0], signal[1])


_encoder = msgspec.json.Encoder()


def encode_alert(alert: Alert) -> bytes:
    """The alerts topic's message value (JSON)."""
    return _encoder.encode(alert)


def alert_key(alert: Alert) -> bytes:
    """The alerts topic's message key: one key per (agent, category, window): a replayed alert is the same message."""
    return f"{alert.agent_id}|{alert.category}|{alert.window_start}".encode()
