"""plan-gated: only the plan's targets survive, then the inner strategy orders them."""

from __future__ import annotations

import random
from fnmatch import fnmatchcase
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies
from strategies import UnknownStrategyError
from strategies.base import Candidate, HealthSnapshot, RouteContext
from strategies.plan_gated import PlanGated

PREMIUM = Candidate("openai", "gpt-4o", priority=0, input_cost_per_mtok=2.5, output_cost_per_mtok=10.0)
GROQ = Candidate("groq", "llama-8b", priority=1, input_cost_per_mtok=0.05, output_cost_per_mtok=0.08)
DEEPSEEK = Candidate("deepseek", "chat", priority=2, input_cost_per_mtok=0.27, output_cost_per_mtok=1.1)
ROUTE = [PREMIUM, GROQ, DEEPSEEK]
FREE = ("groq/*", "deepseek/*")


def _rank(candidates: list[Candidate], plan_targets: tuple[str, ...], **params: Any) -> list[str]:
    ctx = RouteContext(
        route="r", plan="free", plan_targets=plan_targets, estimated_prompt_tokens=1000, params=params,
        rng=random.Random(0),
    )  # fmt: skip
    return [c.key for c in PlanGated().rank(candidates, ctx)]


def test_drops_targets_outside_the_plan_and_keeps_priority_order_by_default() -> None:
    assert _rank(ROUTE, FREE) == ["groq/llama-8b", "deepseek/chat"]


def test_empty_plan_targets_allow_everything() -> None:
    assert _rank(ROUTE, ()) == ["openai/gpt-4o", "groq/llama-8b", "deepseek/chat"]


def test_no_allowed_target_gives_an_empty_ranking() -> None:
    assert _rank(ROUTE, ("anthropic/*",)) == []


def test_globs_match_the_whole_key_case_sensitively() -> None:
    assert _rank(ROUTE, ("groq",)) == []
    assert _rank(ROUTE, ("GROQ/*",)) == []
    assert _rank(ROUTE, ("*/chat", "openai/gpt-4?")) == ["openai/gpt-4o", "deepseek/chat"]


def test_delegates_to_the_inner_strategy_named_in_params() -> None:
    down = Candidate("groq", "llama-8b", priority=0, health=HealthSnapshot(breaker="open"))
    dear = Candidate("deepseek", "chat", priority=1, input_cost_per_mtok=9.0)
    cheap = Candidate("deepseek", "lite", priority=2, input_cost_per_mtok=0.1)
    route = [PREMIUM, down, dear, cheap]
    assert _rank(route, FREE) == ["deepseek/chat", "deepseek/lite", "groq/llama-8b"]
    assert _rank(route, FREE, inner=None) == ["deepseek/chat", "deepseek/lite", "groq/llama-8b"]
    assert _rank(route, FREE, inner="cost-based") == ["deepseek/lite", "deepseek/chat", "groq/llama-8b"]


def test_itself_as_inner_falls_back_to_the_default_instead_of_recursing() -> None:
    assert _rank(ROUTE, FREE, inner="plan-gated") == ["groq/llama-8b", "deepseek/chat"]


def test_unknown_inner_strategy_is_reported() -> None:
    with pytest.raises(UnknownStrategyError, match="no-such"):
        _rank(ROUTE, FREE, inner="no-such")


def test_registered_under_its_config_name() -> None:
    assert isinstance(strategies.get("plan-gated"), PlanGated)


_glob = st.sampled_from(["openai/*", "groq/*", "*/mini", "anthropic/claude-*", "deepseek/chat", "open*", "[gd]*/*"])
_glob |= st.text(alphabet="adegnopqr*/?[]-", max_size=10)
_candidate = st.builds(
    Candidate,
    provider=st.sampled_from(["openai", "groq", "anthropic", "deepseek", "Groq"]),
    model=st.sampled_from(["gpt-4o", "mini", "claude-3", "chat", "llama-8b"]),
    priority=st.integers(0, 3),
    input_cost_per_mtok=st.floats(0, 20),
    context_window=st.none() | st.integers(1000, 200_000),
    health=st.builds(
        HealthSnapshot,
        ttft_ms=st.none() | st.floats(1, 3000),
        breaker=st.sampled_from(["closed", "open", "half-open"]),
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    candidates=st.lists(_candidate, max_size=8),
    plan_targets=st.lists(_glob, max_size=3).map(tuple),
    inner=st.sampled_from(["priority-fallback", "latency-weighted", "cost-based", None]),
    prompt=st.integers(0, 150_000),
    seed=st.integers(0, 2**16),
)
def test_never_routes_a_key_to_a_target_outside_its_plan(
    candidates: list[Candidate], plan_targets: tuple[str, ...], inner: str | None, prompt: int, seed: int
) -> None:
    ctx = RouteContext(
        route="r",
        plan="free",
        plan_targets=plan_targets,
        estimated_prompt_tokens=prompt,
        params={"inner": inner, "exploration": 0.05},
        rng=random.Random(seed),
    )
    ranked = PlanGated().rank(candidates, ctx)
    allowed = [c for c in candidates if not plan_targets or any(fnmatchcase(c.key, g) for g in plan_targets)]
    for c in ranked:
        assert not plan_targets or any(fnmatchcase(c.key, g) for g in plan_targets), f"{c.key} outside {plan_targets}"
    if inner != "cost-based":
        # The other built-ins never drop a target, so the gate alone decides what is left.
        assert sorted(map(id, ranked)) == sorted(map(id, allowed))
    if not allowed:
        assert ranked == []
