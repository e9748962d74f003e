"""Live health per (provider, model): EWMA latency/TTFT, a sliding error window, a breaker."""

from __future__ import annotations

import time
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable

from app.health.breaker import CircuitBreaker
from strategies.base import HealthSnapshot

__all__ = ["TTFT_WINDOW", "HealthRegistry", "TargetHealth"]

TTFT_WINDOW = 100
"""Stream first-token times kept per target for the p95 that hedging waits on."""


class TargetHealth:
    """Everything recorded about one target; mutated only through the registry."""

    __slots__ = (
        "_ordered",
        "breaker",
        "failures",
        "latency_ms",
        "outcomes",
        "requests",
        "samples",
        "ttft_ms",
        "ttft_window",
    )

    def __init__(self, breaker: CircuitBreaker) -> None:
        self.breaker = breaker
        self.latency_ms: float | None = None
        self.ttft_ms: float | None = None
        self.samples = 0
        self.outcomes: deque[list[float]] = deque()
        """Per-second buckets [second, requests, failures]: bounded by the window, not the traffic."""
        self.failures = 0
        self.requests = 0
        """Totals over `outcomes`, kept up to date so a snapshot is O(1)."""
        self.ttft_window: deque[float] = deque(maxlen=TTFT_WINDOW)
        self._ordered: list[float] = []
        """The window's samples, sorted: kept in step with it (a bisect each way) so the p95 is a lookup."""

    def add_outcome(self, at: float, ok: bool) -> None:
        second = float(int(at))
        if self.outcomes and self.outcomes[-1][0] == second:
            bucket = self.outcomes[-1]
        else:
            bucket = [second, 0.0, 0.0]
            self.outcomes.append(bucket)
        bucket[1] += 1
        self.requests += 1
        if not ok:
            bucket[2] += 1
            self.failures += 1

    def add_ttft(self, ttft_ms: float) -> None:
        window, ordered = self.ttft_window, self._ordered
        if len(window) == window.maxlen:
            del ordered[bisect_left(ordered, window[0])]  # the sample the append below pushes out
        window.append(ttft_ms)
        insort(ordered, ttft_ms)

    def p95_ttft(self) -> float | None:
        # Sorting the window after every stream sample cost ~5 us per stream on the request path.
        ordered = self._ordered
        if len(ordered) < 5:
            return None
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


MAX_TARGETS = 10_000
"""Targets whose health a worker keeps; beyond it the first seen is forgotten (glob models are open-ended)."""


class HealthRegistry:
    """Fed by live traffic and probes; read by strategies through immutable snapshots."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        alpha: float = 0.3,
        window_s: float = 60.0,
        breaker_threshold: int = 3,
        breaker_cooldown_s: float = 10.0,
    ) -> None:
        self._clock = clock
        self._alpha = alpha
        self._window_s = window_s
        self._threshold = breaker_threshold
        self._cooldown_s = breaker_cooldown_s
        self._targets: dict[str, TargetHealth] = {}

    def _get(self, key: str) -> TargetHealth:
        found = self._targets.get(key)
        if found is None:
            if len(self._targets) >= MAX_TARGETS:  # glob models let callers name targets: forget the oldest
                del self._targets[next(iter(self._targets))]
            found = self._targets[key] = TargetHealth(CircuitBreaker(self._clock, self._threshold, self._cooldown_s))
        return found

    def _ewma(self, old: float | None, new: float) -> float:
        return new if old is None else old + self._alpha * (new - old)

    def _trim(self, t: TargetHealth, now: float) -> None:
        horizon = now - self._window_s
        outcomes = t.outcomes
        while outcomes and outcomes[0][0] < horizon:
            _, requests, failures = outcomes.popleft()
            t.requests -= int(requests)
            t.failures -= int(failures)

    def allow(self, key: str) -> bool:
        return self._get(key).breaker.allow()

    def release(self, key: str) -> None:
        self._get(key).breaker.release()

    def record_success(self, key: str, latency_ms: float, ttft_ms: float | None = None) -> None:
        t = self._get(key)
        now = self._clock()
        t.breaker.record_success()
        t.samples += 1
        if ttft_ms is not None:
            t.ttft_ms = self._ewma(t.ttft_ms, ttft_ms)
            t.add_ttft(ttft_ms)
        else:
            t.latency_ms = self._ewma(t.latency_ms, latency_ms)
        t.add_outcome(now, True)
        self._trim(t, now)

    def record_ok(self, key: str) -> None:
        """A success whose time says nothing about the target's latency (a WebSocket session opening)."""
        t = self._get(key)
        now = self._clock()
        t.breaker.record_success()
        t.add_outcome(now, True)
        self._trim(t, now)

    def record_failure(self, key: str, latency_ms: float | None = None, *, first_token: bool = False) -> None:
        t = self._get(key)
        now = self._clock()
        t.breaker.record_failure()
        t.samples += 1
        if latency_ms is not None:
            # A failure is at least as slow as it took: keeps a timing-out target from looking fast.
            if first_token:
                t.ttft_ms = self._ewma(t.ttft_ms, latency_ms)
                t.add_ttft(latency_ms)
            else:
                t.latency_ms = self._ewma(t.latency_ms, latency_ms)
        t.add_outcome(now, False)
        self._trim(t, now)

    def is_open(self, key: str) -> bool:
        t = self._targets.get(key)
        return t is not None and t.breaker.state == "open"

    def probe_result(self, key: str, ok: bool) -> None:
        """A probe says the provider answers (or not); it moves the breaker, never the latency scores.

        A free probe (GET /models) proves the provider is up, not that this model answers: it closes a
        breaker that a failed probe opened, but one that the model's own failures opened only goes
        half-open, so one real request decides.
        """
        t = self._get(key)
        if ok:
            if t.breaker.state != "closed":
                if t.breaker.opened_by_probe:
                    t.breaker.record_success()
                else:
                    t.breaker.end_cooldown()
        else:
            t.breaker.trip()
            t.add_outcome(self._clock(), False)

    def snapshot(self, key: str) -> HealthSnapshot:
        t = self._targets.get(key)
        if t is None:
            return HealthSnapshot()
        self._trim(t, self._clock())
        rate = t.failures / t.requests if t.requests else 0.0
        breaker = t.breaker
        # Positional (latency, ttft, p95 ttft, error rate, samples, breaker, failures): once per target per call.
        return HealthSnapshot(
            t.latency_ms, t.ttft_ms, t.p95_ttft(), rate, t.samples, breaker.state, breaker.consecutive_failures
        )

    def keys(self) -> list[str]:
        return sorted(self._targets)
