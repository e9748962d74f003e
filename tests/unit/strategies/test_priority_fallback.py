"""priority-fallback: configured order, open breakers last but never dropped."""

from __future__ import annotations

import strategies
from strategies.base import BreakerState, Candidate, HealthSnapshot, RouteContext
from strategies.priority_fallback import PriorityFallback


def _c(provider: str, priority: int = 0, breaker: BreakerState = "closed") -> Candidate:
    return Candidate(provider, "m", priority=priority, health=HealthSnapshot(breaker=breaker))


def _keys(ranked: list[Candidate]) -> list[str]:
    return [c.provider for c in ranked]


CTX = RouteContext(route="r")


def test_lowest_priority_number_first_and_ties_keep_configured_order() -> None:
    ranked = PriorityFallback().rank([_c("c", 2), _c("a", 0), _c("b1", 1), _c("b2", 1)], CTX)
    assert _keys(ranked) == ["a", "b1", "b2", "c"]


def test_open_breaker_goes_last_and_half_open_still_counts_as_available() -> None:
    ranked = PriorityFallback().rank([_c("a", 0, "open"), _c("b", 1, "half-open"), _c("c", 2)], CTX)
    assert _keys(ranked) == ["b", "c", "a"]


def test_all_open_keeps_every_target_in_priority_order() -> None:
    ranked = PriorityFallback().rank([_c("b", 1, "open"), _c("a", 0, "open")], CTX)
    assert _keys(ranked) == ["a", "b"]


def test_empty_route_ranks_to_empty() -> None:
    assert PriorityFallback().rank([], CTX) == []


def test_registered_under_its_config_name() -> None:
    assert isinstance(strategies.get("priority-fallback"), PriorityFallback)
