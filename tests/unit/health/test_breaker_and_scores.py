"""Circuit breaker transitions and health scores, with an injected clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.health.breaker import CircuitBreaker
from app.health.scores import TTFT_WINDOW, HealthRegistry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_half_opens_and_closes() -> None:
    clock = Clock()
    b = CircuitBreaker(clock, threshold=3, cooldown_s=10)
    for _ in range(2):
        b.record_failure()
    assert b.state == "closed" and b.allow()
    b.record_failure()
    assert b.state == "open" and not b.allow()
    clock.now += 10
    assert b.state == "half-open"
    assert b.allow() is True  # one trial
    assert b.allow() is False  # and only one
    b.record_failure()  # the trial failed: open again for a full cool-down
    assert b.state == "open"
    clock.now += 10
    assert b.allow()
    b.record_success()
    assert b.state == "closed" and b.consecutive_failures == 0


def test_released_trial_frees_the_slot() -> None:
    clock = Clock()
    b = CircuitBreaker(clock, threshold=1, cooldown_s=1)
    b.record_failure()
    clock.now += 1
    assert b.allow()
    b.release()
    assert b.allow()


def test_scores_ewma_window_and_probe() -> None:
    clock = Clock()
    h = HealthRegistry(clock, alpha=0.5, window_s=60, breaker_threshold=3, breaker_cooldown_s=5)
    h.record_success("p/m", 100)
    h.record_success("p/m", 200)
    snap = h.snapshot("p/m")
    assert snap.latency_ms == 150 and snap.error_rate == 0 and snap.samples == 2
    h.record_failure("p/m", 400)
    assert h.snapshot("p/m").error_rate == 1 / 3
    clock.now += 61  # the window forgets
    assert h.snapshot("p/m").error_rate == 0
    h.record_success("p/m", 50, ttft_ms=20)
    assert h.snapshot("p/m").ttft_ms == 20 and h.snapshot("p/m").speed_ms == 20
    h.probe_result("p/m", ok=False)
    assert h.snapshot("p/m").breaker == "open" and h.is_open("p/m")
    h.probe_result("p/m", ok=True)
    assert h.snapshot("p/m").breaker == "closed"


def test_passing_probe_half_opens_a_breaker_the_model_opened() -> None:
    clock = Clock()
    h = HealthRegistry(clock, breaker_threshold=2, breaker_cooldown_s=30)
    h.record_failure("p/m", 100)
    h.record_failure("p/m", 100)
    assert h.snapshot("p/m").breaker == "open"
    h.probe_result("p/m", ok=True)  # GET /models answers; the model's own 500s are not disproved
    assert h.snapshot("p/m").breaker == "half-open"
    assert h.allow("p/m") is True and h.allow("p/m") is False  # one trial request, not all traffic
    h.record_failure("p/m", 100)  # the trial fails: open again for a full cool-down
    assert h.snapshot("p/m").breaker == "open"
    h.probe_result("p/m", ok=True)
    assert h.allow("p/m") is True
    h.record_success("p/m", 50)
    assert h.snapshot("p/m").breaker == "closed"


def test_timeouts_count_against_ttft() -> None:
    h = HealthRegistry(Clock(), alpha=1.0)
    h.record_success("p/m", 10, ttft_ms=10)
    h.record_failure("p/m", 5000, first_token=True)
    assert h.snapshot("p/m").ttft_ms == 5000


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=60_000, allow_nan=False), max_size=260))
def test_p95_ttft_is_the_95th_percentile_of_the_last_hundred_samples(samples: list[float]) -> None:
    """Kept sorted as samples come and go; must read exactly what sorting the window would."""
    registry = HealthRegistry()
    for n, ttft in enumerate(samples, 1):
        if n % 7 == 0:  # a first-token timeout feeds the same window
            registry.record_failure("p/m", ttft, first_token=True)
        else:
            registry.record_success("p/m", ttft + 1, ttft)
        window = sorted(samples[max(0, n - TTFT_WINDOW) : n])
        expected = window[min(len(window) - 1, int(0.95 * len(window)))] if len(window) >= 5 else None
        assert registry.snapshot("p/m").p95_ttft_ms == expected


def test_the_registry_forgets_the_oldest_target_past_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.health.scores.MAX_TARGETS", 3)
    h = HealthRegistry(Clock(), alpha=0.5, window_s=60, breaker_threshold=3, breaker_cooldown_s=5)
    for i in range(5):
        h.record_success(f"wild/m{i}", 100)
    assert h.keys() == ["wild/m2", "wild/m3", "wild/m4"]
    assert h.snapshot("wild/m4").samples == 1 and h.snapshot("wild/m0").samples == 0
