"""latency-weighted: first pick weighted by weight * (1 - error_rate) / speed**4, exploration, fallbacks."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

import strategies
from strategies.base import BreakerState, Candidate, HealthSnapshot, RouteContext
from strategies.latency_weighted import EXPONENT, LatencyWeighted


def _c(
    provider: str,
    ttft: float | None = None,
    *,
    latency: float | None = None,
    error_rate: float = 0.0,
    breaker: BreakerState = "closed",
    weight: float = 1.0,
    priority: int = 0,
) -> Candidate:
    health = HealthSnapshot(
        latency_ms=latency, ttft_ms=ttft, error_rate=error_rate, samples=0 if ttft is None and latency is None else 10,
        breaker=breaker,
    )  # fmt: skip
    return Candidate(provider, "m", priority=priority, weight=weight, health=health)


def _firsts(candidates: list[Candidate], draws: int = 4000, seed: int = 1, **params: Any) -> Counter[str]:
    ctx = RouteContext(route="r", params=params, rng=random.Random(seed))
    strategy = LatencyWeighted()
    return Counter(strategy.rank(candidates, ctx)[0].provider for _ in range(draws))


def test_share_of_first_picks_follows_the_documented_exponent() -> None:
    picks = _firsts([_c("fast", 100.0), _c("mid", 200.0), _c("slow", 400.0)], exploration=0.0)
    assert EXPONENT == 4.0
    # 1 : 1/16 : 1/256 -> the fastest takes about 94% of first picks.
    assert 0.91 <= picks["fast"] / 4000 <= 0.96
    assert 10 <= picks["fast"] / picks["mid"] <= 25
    assert picks["slow"] < 40


def test_ttft_is_preferred_to_whole_latency_when_both_are_known() -> None:
    # "a" has the lower whole latency but the slower first token: TTFT decides.
    picks = _firsts([_c("a", 800.0, latency=100.0), _c("b", 200.0, latency=2000.0)], exploration=0.0)
    assert picks["b"] > 0.95 * 4000


def test_error_rate_lowers_the_share() -> None:
    picks = _firsts([_c("flaky", 100.0, error_rate=0.5), _c("steady", 100.0)], exploration=0.0)
    assert 0.6 <= picks["steady"] / 4000 <= 0.73


def test_weight_scales_the_share_and_zero_weight_is_never_drawn() -> None:
    picks = _firsts([_c("heavy", 100.0, weight=3.0), _c("light", 100.0), _c("off", 100.0, weight=0.0)], exploration=0)
    assert 0.7 <= picks["heavy"] / 4000 <= 0.8
    assert picks["off"] == 0


def test_target_without_samples_borrows_the_best_known_speed() -> None:
    picks = _firsts([_c("known-fast", 100.0), _c("new"), _c("known-slow", 1000.0)], exploration=0.0)
    assert 0.45 <= picks["new"] / 4000 <= 0.55


def test_without_any_samples_every_target_is_equally_likely() -> None:
    picks = _firsts([_c("a"), _c("b"), _c("c")], exploration=0.0)
    assert all(1100 <= picks[k] <= 1570 for k in "abc")


def test_open_breaker_is_never_first_but_never_dropped() -> None:
    candidates = [_c("down", 10.0, breaker="open"), _c("a", 500.0), _c("b", 900.0)]
    ctx = RouteContext(route="r", params={"exploration": 1.0}, rng=random.Random(3))
    for _ in range(500):
        ranked = LatencyWeighted().rank(candidates, ctx)
        assert ranked[0].provider != "down"
        assert ranked[-1].provider == "down"
        assert len(ranked) == 3


def test_all_open_returns_everyone_fastest_first() -> None:
    candidates = [_c("slow", 900.0, breaker="open"), _c("fast", 100.0, breaker="open")]
    ranked = LatencyWeighted().rank(candidates, RouteContext(route="r", rng=random.Random(0)))
    assert [c.provider for c in ranked] == ["fast", "slow"]


def test_half_open_target_is_available() -> None:
    ranked = LatencyWeighted().rank(
        [_c("probing", 50.0, breaker="half-open"), _c("b", 900.0)],
        RouteContext(route="r", params={"exploration": 0.0}, rng=random.Random(0)),
    )
    assert ranked[0].provider == "probing"


def test_fallbacks_follow_in_descending_score() -> None:
    candidates = [_c("c", 300.0), _c("a", 100.0), _c("d", 400.0), _c("b", 200.0), _c("x", 50.0, breaker="open")]
    ctx = RouteContext(route="r", rng=random.Random(5))
    for _ in range(200):
        ranked = [c.provider for c in LatencyWeighted().rank(candidates, ctx)]
        assert [p for p in ranked[:-1] if p != ranked[0]] == [p for p in "abcd" if p != ranked[0]]
        assert ranked[-1] == "x"


@pytest.mark.parametrize(("exploration", "low", "high"), [(None, 0.008, 0.03), (0.05, 0.008, 0.03), (0.0, 0, 0.002)])
def test_exploration_sends_a_trickle_to_slow_targets(exploration: float | None, low: float, high: float) -> None:
    candidates = [_c("fast", 100.0), _c("mid", 110.0), _c("stale", 2000.0)]
    if exploration is None:
        picks = _firsts(candidates, draws=8000)
    else:
        picks = _firsts(candidates, draws=8000, exploration=exploration)
    share = picks["stale"] / 8000
    # exploration / 3 candidates: about 1.7% at the default 0.05.
    assert low <= share <= high


def test_full_exploration_is_uniform_over_available_targets() -> None:
    picks = _firsts([_c("a", 100.0), _c("b", 1000.0), _c("c", 5000.0), _c("d", 1.0, breaker="open")], exploration=1.0)
    assert all(1200 <= picks[k] <= 1470 for k in "abc")
    assert picks["d"] == 0


def test_same_rng_seed_gives_the_same_sequence() -> None:
    candidates = [_c("a", 100.0), _c("b", 120.0), _c("c", 140.0)]
    assert _firsts(candidates, draws=300, seed=9) == _firsts(candidates, draws=300, seed=9)
    runs = [
        [LatencyWeighted().rank(candidates, ctx)[0].provider for _ in range(50)]
        for ctx in (RouteContext(route="r", rng=random.Random(4)), RouteContext(route="r", rng=random.Random(4)))
    ]
    assert runs[0] == runs[1]


def test_empty_route_ranks_to_empty() -> None:
    assert LatencyWeighted().rank([], RouteContext(route="r")) == []


def test_registered_under_its_config_name() -> None:
    assert isinstance(strategies.get("latency-weighted"), LatencyWeighted)
