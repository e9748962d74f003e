"""tiered: tiers by priority in order, each ranked by the inner strategy; open breakers last."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import strategies
from strategies.base import Candidate, HealthSnapshot, RouteContext
from strategies.tiered import Tiered

A = Candidate("azure", "gpt-4o", priority=0, weight=1.0)
B = Candidate("openai", "gpt-4o", priority=0, weight=1.0)
FALLBACK = Candidate("bedrock", "claude", priority=1, input_cost_per_mtok=3.0)
CHEAP_FALLBACK = Candidate("groq", "llama", priority=1, input_cost_per_mtok=0.1)


def _rank(candidates: list[Candidate], seed: int = 0, **params: Any) -> list[str]:
    ctx = RouteContext(route="r", estimated_prompt_tokens=100, params=params, rng=random.Random(seed))
    return [c.key for c in Tiered().rank(candidates, ctx)]


def test_a_fallback_tier_never_comes_before_a_healthy_first_tier() -> None:
    firsts = Counter(_rank([FALLBACK, A, B], seed=seed)[0] for seed in range(200))
    assert set(firsts) == {"azure/gpt-4o", "openai/gpt-4o"}  # the first tier is load-balanced
    assert min(firsts.values()) > 40
    assert all(_rank([FALLBACK, A, B], seed=seed)[2] == "bedrock/claude" for seed in range(50))


def test_each_tier_is_ordered_by_the_inner_strategy() -> None:
    assert _rank([A, FALLBACK, CHEAP_FALLBACK], inner="cost-based")[1:] == ["groq/llama", "bedrock/claude"]
    assert _rank([B, A, FALLBACK, CHEAP_FALLBACK], inner="priority-fallback") == [
        "openai/gpt-4o", "azure/gpt-4o", "bedrock/claude", "groq/llama",
    ]  # fmt: skip


def test_open_breakers_go_last_so_a_dead_tier_does_not_hold_up_the_next() -> None:
    down = HealthSnapshot(breaker="open")
    dead_a = Candidate("azure", "gpt-4o", priority=0, health=down)
    dead_b = Candidate("openai", "gpt-4o", priority=0, health=down)
    ranked = _rank([dead_a, dead_b, FALLBACK])
    assert ranked[0] == "bedrock/claude" and set(ranked[1:]) == {"azure/gpt-4o", "openai/gpt-4o"}


def test_registered_and_never_its_own_inner() -> None:
    assert "tiered" in strategies.available()
    assert _rank([A, FALLBACK], inner="tiered")[1] == "bedrock/claude"
