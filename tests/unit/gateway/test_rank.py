"""rank_targets: a route's candidates, priced and health-stamped, in its strategy's order."""

from __future__ import annotations

import dataclasses
import random

import pytest

from app.catalog.specs import Limits, ModelSpec, PlanSpec, RouteParams, TargetSpec
from app.errors import ModelNotAllowedError, ServiceUnavailableError
from app.gateway.attempt_outcomes import Target
from app.gateway.rank import rank_targets
from app.gateway.snapshot import CatalogSnapshot, KeyRecord, ProviderEntry, ResolvedModel, RouteEntry
from app.health.scores import HealthRegistry
from strategies.base import Candidate
from tests.entries import provider_entry


def _provider(name: str, price: float) -> ProviderEntry:
    models = {"m": ModelSpec(id="m", input_cost_per_mtok=price, output_cost_per_mtok=price)}
    return provider_entry(id=f"cfg-{name}", name=name, models=models)


SNAPSHOT = CatalogSnapshot(1, {"dear": _provider("dear", 10.0), "cheap": _provider("cheap", 0.1)}, {}, {}, {}, {}, {})
TARGETS = (TargetSpec("dear", "m", priority=0), TargetSpec("cheap", "m", priority=1))


def _ranked(
    resolved: ResolvedModel, plan: PlanSpec | None = None, health: HealthRegistry | None = None
) -> tuple[list[Target], list[Candidate]]:
    key = KeyRecord("key_1", "k", "sk-poly-abcd", plan, None, Limits(), None)
    return rank_targets(
        resolved,
        SNAPSHOT,
        key,
        health or HealthRegistry(),
        estimated_prompt_tokens=10,
        max_output_tokens=10,
        stream=False,
        rng=random.Random(1),
    )


def _rank(strategy: str, plan: PlanSpec | None = None, inner: str | None = None) -> list[str]:
    route = RouteEntry("route/r", strategy, RouteParams(inner=inner), TARGETS)
    targets, _ = _ranked(ResolvedModel("route/r", route, TARGETS), plan)
    return [t.key for t in targets]


def test_the_routes_strategy_orders_the_targets() -> None:
    assert _rank("priority-fallback") == ["dear/m", "cheap/m"]
    assert _rank("cost-based") == ["cheap/m", "dear/m"]  # prices come from the provider's model spec


def test_plan_gated_with_nothing_allowed_is_model_not_allowed() -> None:
    assert _rank("plan-gated", PlanSpec("free", targets=["cheap/*"])) == ["cheap/m"]
    with pytest.raises(ModelNotAllowedError):
        _rank("plan-gated", PlanSpec("none", targets=["elsewhere/*"]))


@pytest.mark.parametrize(("strategy", "inner"), [("gone", None), ("plan-gated", "gone")])
def test_a_strategy_missing_at_run_time_is_a_503_naming_the_route(strategy: str, inner: str | None) -> None:
    with pytest.raises(ServiceUnavailableError, match=r"route/r.*unknown strategy 'gone'"):
        _rank(strategy, inner=inner)


def test_candidates_carry_each_targets_own_figures_and_health() -> None:
    """Every field a strategy reads comes from the right place (the candidate is built positionally)."""
    spec = ModelSpec(id="m", input_cost_per_mtok=1.5, output_cost_per_mtok=6.0, context_window=32_000)
    provider = dataclasses.replace(_provider("p", 1.0), models={"m": spec})
    snapshot = CatalogSnapshot(1, {"p": provider}, {}, {}, {}, {}, {})
    target = TargetSpec("p", "m", priority=3, weight=2.5)
    health = HealthRegistry()
    health.record_success("p/m", 40.0)
    health.record_failure("p/m", 90.0)
    key = KeyRecord("key_1", "k", "sk-poly-abcd", None, None, Limits(), None)
    _, [candidate] = rank_targets(
        ResolvedModel("p/m", None, (target,)),
        snapshot,
        key,
        health,
        estimated_prompt_tokens=1,
        max_output_tokens=None,
        stream=False,
        rng=random.Random(1),
    )
    assert (candidate.provider, candidate.model, candidate.priority, candidate.weight) == ("p", "m", 3, 2.5)
    prices = (candidate.input_cost_per_mtok, candidate.output_cost_per_mtok)
    assert prices == (1.5, 6.0) and candidate.context_window == 32_000
    h = candidate.health
    assert (h.samples, h.error_rate, h.breaker, h.consecutive_failures, h.ttft_ms, h.p95_ttft_ms) == (
        2,
        0.5,
        "closed",
        1,
        None,
        None,
    )
    assert h.latency_ms is not None and 40.0 < h.latency_ms < 90.0


def _rank_one(route: RouteEntry | None, plan: PlanSpec | None = None) -> list[str]:
    resolved = ResolvedModel(route.name if route else "cheap/m", route, (TargetSpec("cheap", "m"),))
    targets, ranked = _ranked(resolved, plan)
    assert [c.key for c in ranked] == [t.key for t in targets]
    return [t.key for t in targets]


def test_a_provider_model_named_directly_is_its_one_target_even_when_its_breaker_is_open() -> None:
    assert _rank_one(None) == ["cheap/m"]
    health = HealthRegistry()
    for _ in range(10):
        health.record_failure("cheap/m", 5.0)
    assert not health.snapshot("cheap/m").available
    targets, [candidate] = _ranked(ResolvedModel("cheap/m", None, (TargetSpec("cheap", "m"),)), health=health)
    assert [t.key for t in targets] == ["cheap/m"] and candidate.health.breaker == "open"


def test_a_route_with_one_target_is_still_ranked_by_its_strategy() -> None:
    """Only a directly named model skips the strategy: a one-target route's strategy may still refuse."""
    gated = RouteEntry("route/one", "plan-gated", RouteParams(), (TargetSpec("cheap", "m"),))
    assert _rank_one(gated, PlanSpec("ok", targets=["cheap/*"])) == ["cheap/m"]
    with pytest.raises(ModelNotAllowedError):
        _rank_one(gated, PlanSpec("none", targets=["elsewhere/*"]))
    gone = RouteEntry("route/one", "gone", RouteParams(), (TargetSpec("cheap", "m"),))
    with pytest.raises(ServiceUnavailableError, match="unknown strategy 'gone'"):
        _rank_one(gone)
