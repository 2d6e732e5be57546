"""execution.loops.*: retry, parameter drift and oscillation over a bounded window of recent calls.

Every signal is emitted on the event that confirms it, so ``index`` is that event's seq; the loop's
extent is in ``metadata`` (start_index, end_index, call_count). One loop episode gives one signal:
- retry: >= ``retry_min`` consecutive calls with the same tool and canonical arguments (flaw 19:
  ``view.call.args_key`` is key-order-insensitive), or, with event times, that many identical calls
  within ``retry_window_s`` even with other calls interleaved. Emitted when the run reaches the
  threshold; every call from its start on is marked as part of a loop episode, and a later identical
  call whose previous twin is marked (and within the time window, when times are known) extends
  the episode silently, together with the calls in between;
- parameter_drift: >= ``drift_min`` consecutive calls of one tool with >= 2 distinct arguments and no
  call in a loop episode, where at least one of the run's results gave nothing useful -- an error, or
  an empty result (``[]``, ``{"flights": []}``, "no flights found"; see ``tools.result_is_empty``) --
  or no results were seen: varying an argument (a date, an id) while nothing comes back is drift,
  several successful lookups are enumeration. A drift run can still turn into a retry (C21: x, y, z, z, z is a retry), so it
  is confirmed when the run ends: on the next call of another tool (index = that call) or at close
  (index = the run's last call); its calls then form a loop episode like a retry's;
- oscillation: the last ``cycles`` x L calls (L = 2..``max_period``, smallest first) repeat a pattern
  of tool names with >= 2 distinct names. Not emitted when any of those calls is already in a loop
  episode (flaw 23: A,A,A,B x 3 is ONE retry whose later A's extend it, not 3 retries + 1 oscillation);
  a run that keeps the same period is extended silently.
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

import msgspec

from detectors.base import CloseView, EventView
from detectors.model import Signal, ToolResult
from detectors.tools import result_is_unhelpful


class CallRec(msgspec.Struct, array_like=True):
    tool: str
    digest: int  # 64-bit hash of the canonical arguments (the state stays small)
    seq: int
    ts: float | None
    looped: bool = False  # part of a reported loop episode


class DriftRun(msgspec.Struct, array_like=True):
    tool: str
    start: int
    end: int
    count: int
    variants: list[int]  # distinct argument digests, at most MAX_VARIANTS
    results: int = 0  # results seen for the run's calls
    failures: int = 0  # ... of which errors or empty results (nothing useful came back)


class LoopState(msgspec.Struct, kw_only=True):
    calls: list[CallRec] = []
    drift: DriftRun | None = None
    osc_period: int = 0  # period of the oscillation being extended, 0 when none
    osc_last: int = -1  # seq of its last call


MAX_VARIANTS = 16


def digest(args_key: str) -> int:
    return int.from_bytes(hashlib.blake2b(args_key.encode(), digest_size=8).digest(), "big", signed=True)


def _note_result(run: DriftRun | None, view: EventView) -> None:
    if run is None or view.call is None or view.call.tool != run.tool or view.call.index < run.start:
        return
    assert isinstance(view.event, ToolResult)
    run.results += 1
    run.failures += result_is_unhelpful(view.event)


def _signal(kind: str, index: int, tool: str, snippet: str, confidence: float, **metadata: object) -> Signal:
    return Signal(type=f"execution.loops.{kind}", index=index, confidence=confidence, snippet=snippet,
                  tool=tool, metadata={"loop_type": kind, **metadata})


class LoopDetector:
    name: ClassVar[str] = "execution.loops"
    kinds: ClassVar[frozenset[str]] = frozenset({"tool_call", "tool_result"})
    state_type: ClassVar[type[msgspec.Struct]] = LoopState

    def __init__(self, *, window: int = 16, retry_min: int = 3, retry_window_s: float = 30.0, drift_min: int = 3,
                 cycles: int = 3, max_period: int = 5, drift_needs_failure: bool = True) -> None:
        if window < max(retry_min, cycles * max_period):
            raise ValueError(f"window={window} must hold cycles*max_period={cycles * max_period} calls")
        self.window, self.retry_min, self.retry_window_s = window, retry_min, retry_window_s
        self.drift_min, self.cycles, self.max_period = drift_min, cycles, max_period
        self.drift_needs_failure = drift_needs_failure

    def on_event(self, state: LoopState, view: EventView) -> list[Signal]:
        if view.kind == "tool_result":
            _note_result(state.drift, view)
            return []
        key = view.call.args_key if view.call is not None else ""
        rec = CallRec(view.tool, digest(key), view.index, view.ts)
        out = self._end_drift(state, rec.tool, rec.seq)
        state.calls.append(rec)
        if len(state.calls) > self.window:
            del state.calls[0]
        retry = self._retry(state.calls, rec)
        out += [retry] if retry else []
        self._extend_drift(state, rec)
        osc = self._oscillation(state, rec)
        return out + ([osc] if osc else [])

    def on_close(self, state: LoopState, close: CloseView) -> list[Signal]:
        run = state.drift
        return self._end_drift(state, "", run.end) if run else []

    # -- retry ---------------------------------------------------------------------------
    def _retry(self, calls: list[CallRec], rec: CallRec) -> Signal | None:
        twins = [c for c in calls[:-1] if c.tool == rec.tool and c.digest == rec.digest]
        if not twins:
            return None
        if twins[-1].looped and self._in_time(twins[-1], rec):
            _mark(calls, twins[-1].seq)  # the episode now also covers the calls in between
            return None
        run = _trailing_run(calls)
        if run >= self.retry_min:
            return self._report_retry(calls, rec, calls[-run].seq, run, "consecutive")
        recent = [c for c in twins if self._in_time(c, rec) and c.ts is not None]
        if rec.ts is not None and len(recent) + 1 >= self.retry_min:
            return self._report_retry(calls, rec, recent[0].seq, len(recent) + 1, "time_window")
        return None

    def _in_time(self, earlier: CallRec, rec: CallRec) -> bool:
        if earlier.ts is None or rec.ts is None:
            return True
        return rec.ts - earlier.ts <= self.retry_window_s

    def _report_retry(self, calls: list[CallRec], rec: CallRec, start: int, count: int, mode: str) -> Signal:
        _mark(calls, start)
        text = f"Tool '{rec.tool}' called {count} times with identical arguments"
        extra = {"window_s": self.retry_window_s} if mode == "time_window" else {}
        return _signal("retry", rec.seq, rec.tool, text, 0.95, start_index=start, end_index=rec.seq,
                       call_count=count, mode=mode, **extra)

    # -- parameter drift -----------------------------------------------------------------
    def _extend_drift(self, state: LoopState, rec: CallRec) -> None:
        run = state.drift
        if rec.looped:
            state.drift = None  # overlaps a loop episode: the run is dropped, a new one starts after
        elif run is None:
            state.drift = DriftRun(rec.tool, rec.seq, rec.seq, 1, [rec.digest])
        else:
            run.end, run.count = rec.seq, run.count + 1
            if rec.digest not in run.variants and len(run.variants) < MAX_VARIANTS:
                run.variants.append(rec.digest)

    def _end_drift(self, state: LoopState, tool: str, index: int) -> list[Signal]:
        run = state.drift
        if run is None or run.tool == tool:
            return []
        state.drift = None
        if run.count < self.drift_min or len(run.variants) < 2:
            return []
        if self.drift_needs_failure and run.results and not run.failures:
            return []  # every call gave something: the agent is enumerating (several lookups), not drifting
        _mark(state.calls, run.start)  # later twins of these calls extend this episode
        text = f"Tool '{run.tool}' called {run.count} times with {len(run.variants)} different argument variations"
        return [_signal("parameter_drift", index, run.tool, text, 0.85, start_index=run.start, end_index=run.end,
                        call_count=run.count, variation_count=len(run.variants))]

    # -- oscillation ---------------------------------------------------------------------
    def _oscillation(self, state: LoopState, rec: CallRec) -> Signal | None:
        calls, period = state.calls, state.osc_period
        if period and state.osc_last == rec.seq - 1 and len(calls) > period and calls[-1 - period].tool == rec.tool:
            state.osc_last, rec.looped = rec.seq, True
            return None
        state.osc_period = period = self._period([c.tool for c in calls])
        if not period:
            return None
        span = calls[-period * self.cycles:]
        state.osc_last, suppressed = rec.seq, any(c.looped for c in span)
        _mark(calls, span[0].seq)
        if suppressed:
            return None
        pattern = [c.tool for c in span[:period]]
        text = f"Oscillation pattern [{' → '.join(pattern)}] repeated {self.cycles} times"
        return _signal("oscillation", rec.seq, rec.tool, text, 0.9, pattern=pattern, start_index=span[0].seq,
                       end_index=rec.seq, cycle_count=self.cycles)

    def _period(self, names: list[str]) -> int:
        for period in range(2, self.max_period + 1):
            size = period * self.cycles
            if size > len(names):
                break
            tail = names[-size:]
            if len(set(tail[:period])) > 1 and tail[period:] == tail[:-period]:  # each name repeats `period` later
                return period
        return 0


def _trailing_run(calls: list[CallRec]) -> int:
    """Identical calls ending the window, not counting an earlier (expired) episode's."""
    last, run = calls[-1], 1
    for call in reversed(calls[:-1]):
        if call.tool != last.tool or call.digest != last.digest or call.looped:
            break
        run += 1
    return run


def _mark(calls: list[CallRec], start: int) -> None:
    for call in calls:
        if call.seq >= start:
            call.looped = True
