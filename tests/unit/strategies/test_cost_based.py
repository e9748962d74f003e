"""cost-based: cheapest fitting target first, ties by priority then speed, oversize requests kept clear."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import strategies
from strategies.base import BreakerState, Candidate, HealthSnapshot, RouteContext
from strategies.cost_based import DEFAULT_OUTPUT_TOKENS, CostBased


def _c(
    provider: str,
    inp: float = 1.0,
    out: float = 1.0,
    *,
    window: int | None = None,
    breaker: BreakerState = "closed",
    priority: int = 0,
    ttft: float | None = None,
) -> Candidate:
    health = HealthSnapshot(ttft_ms=ttft, breaker=breaker)
    return Candidate(provider, "m", priority, 1.0, inp, out, window, health)


def _rank(candidates: list[Candidate], prompt: int = 1000, max_output: int | None = 500) -> list[str]:
    ctx = RouteContext(route="r", estimated_prompt_tokens=prompt, max_output_tokens=max_output)
    return [c.provider for c in CostBased().rank(candidates, ctx)]


def test_cheapest_expected_cost_first() -> None:
    assert _rank([_c("dear", 5, 15), _c("cheap", 0.1, 0.2), _c("mid", 1, 3)]) == ["cheap", "mid", "dear"]


def test_price_counts_prompt_and_output_tokens() -> None:
    input_heavy, output_heavy = _c("cheap-out", 10.0, 0.1), _c("cheap-in", 0.1, 10.0)
    assert _rank([input_heavy, output_heavy], prompt=100_000, max_output=100)[0] == "cheap-in"
    assert _rank([input_heavy, output_heavy], prompt=100, max_output=100_000)[0] == "cheap-out"


def test_ties_go_to_priority_then_speed_then_configured_order() -> None:
    candidates = [
        _c("p1", priority=1, ttft=10.0), _c("p0-slow", ttft=900.0), _c("p0-unknown"), _c("p0-fast", ttft=100.0),
        _c("p0-fast-too", ttft=100.0),
    ]  # fmt: skip
    assert _rank(candidates) == ["p0-fast", "p0-fast-too", "p0-slow", "p0-unknown", "p1"]


def test_targets_that_cannot_fit_are_dropped() -> None:
    candidates = [_c("small", 0.1, 0.1, window=4000), _c("exact", 2, 2, window=6000), _c("big", 3, 3, window=200_000)]
    assert _rank(candidates, prompt=5000, max_output=1000) == ["exact", "big"]


def test_default_output_budget_applies_when_the_request_sets_none() -> None:
    tight = _c("tight", 0.1, 0.1, window=1000 + DEFAULT_OUTPUT_TOKENS - 1)
    assert _rank([tight, _c("roomy", 5, 5)], prompt=1000, max_output=None) == ["roomy"]
    assert _rank([tight, _c("roomy", 5, 5)], prompt=1000, max_output=10) == ["tight", "roomy"]


def test_when_nothing_fits_everything_is_returned_widest_window_first() -> None:
    candidates = [_c("a", window=4000), _c("c", window=16_000), _c("b", window=8000, breaker="open")]
    assert _rank(candidates, prompt=50_000) == ["c", "b", "a"]


def test_unavailable_targets_follow_available_ones_cheapest_first() -> None:
    candidates = [_c("down-cheap", 0.1, 0.1, breaker="open"), _c("up-dear", 9, 9), _c("down-mid", 1, 1, breaker="open")]
    candidates.append(_c("probing", 5, 5, breaker="half-open"))
    assert _rank(candidates) == ["probing", "up-dear", "down-cheap", "down-mid"]


def test_unavailable_and_too_small_is_dropped_too() -> None:
    assert _rank([_c("down-small", window=100, breaker="open"), _c("ok")]) == ["ok"]


def test_registered_under_its_config_name() -> None:
    assert isinstance(strategies.get("cost-based"), CostBased)


_health = st.builds(
    HealthSnapshot,
    ttft_ms=st.none() | st.floats(1, 5000),
    error_rate=st.floats(0, 1),
    breaker=st.sampled_from(["closed", "open", "half-open"]),
)
_price = st.sampled_from([0.0, 0.05, 0.15, 1.0, 3.0]) | st.floats(0, 100, allow_nan=False)
_candidate = st.builds(
    Candidate,
    provider=st.sampled_from(["openai", "groq", "anthropic", "deepseek"]),
    model=st.sampled_from(["a", "b"]),
    priority=st.integers(0, 3),
    input_cost_per_mtok=_price,
    output_cost_per_mtok=_price,
    context_window=st.none() | st.sampled_from([4096, 8192, 32_768, 128_000]) | st.integers(1, 300_000),
    health=_health,
)


@settings(max_examples=200, deadline=None)
@given(
    candidates=st.lists(_candidate, max_size=8),
    prompt=st.integers(0, 200_000),
    max_output=st.none() | st.integers(0, 16_000),
)
def test_never_ranks_a_dearer_target_before_a_cheaper_healthy_one_that_fits(
    candidates: list[Candidate], prompt: int, max_output: int | None
) -> None:
    ctx = RouteContext(route="r", estimated_prompt_tokens=prompt, max_output_tokens=max_output)
    ranked = CostBased().rank(candidates, ctx)
    output = DEFAULT_OUTPUT_TOKENS if max_output is None else max_output
    fitting = [c for c in candidates if c.fits(prompt, output)]
    if not fitting:
        assert sorted(map(id, ranked)) == sorted(map(id, candidates))
        windows = [c.context_window or 0 for c in ranked]
        assert windows == sorted(windows, reverse=True)
        return
    assert sorted(map(id, ranked)) == sorted(map(id, fitting)), "exactly the fitting targets, none lost"

    def cost(c: Candidate) -> float:
        return c.expected_cost(prompt, output)

    for i, earlier in enumerate(ranked):
        for later in ranked[i + 1 :]:
            if later.health.available:
                assert earlier.health.available, "a down target ranked before a healthy one"
                assert cost(earlier) <= cost(later), "a dearer target ranked before a cheaper healthy one"
            elif not earlier.health.available:
                assert cost(earlier) <= cost(later), "down targets are ordered cheapest first too"
