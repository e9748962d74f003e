"""Resolved model -> live candidates -> the strategy's order."""

from __future__ import annotations

import random
from collections.abc import Mapping

import strategies
from app.errors import (
    BudgetExceededError,
    ModelNotAllowedError,
    ProviderError,
    RateLimitedError,
    ServiceUnavailableError,
)
from app.gateway.attempt_outcomes import Target
from app.gateway.snapshot import CatalogSnapshot, KeyRecord, ResolvedModel
from app.health.scores import HealthRegistry
from app.providers.registry import ADAPTERS
from strategies.base import Candidate, RouteContext

__all__ = ["plan_targets", "rank_targets"]


def plan_targets(key: KeyRecord) -> tuple[str, ...]:
    """The target globs plan-gated routing keeps this key to: its own override, else its plan's."""
    if key.limits.targets is not None:
        return tuple(key.limits.targets)
    return tuple(key.plan.targets) if key.plan else ()


def rank_targets(
    resolved: ResolvedModel,
    snapshot: CatalogSnapshot,
    key: KeyRecord,
    health: HealthRegistry,
    *,
    estimated_prompt_tokens: int,
    max_output_tokens: int | None,
    stream: bool,
    rng: random.Random,
    over_budget: frozenset[str] = frozenset(),
    resets: Mapping[str, float] | None = None,
    over_quota: frozenset[str] = frozenset(),
    quota_resets: Mapping[str, float] | None = None,
) -> tuple[list[Target], list[Candidate]]:
    """Targets in the order to try them, and the candidates as ranked (for explain). Providers in
    `over_budget` (their day or month budget spent) are skipped; `resets` says when each comes back.
    So are targets in `over_quota` (their deployment's rpm or tpm reached this minute; `quota_resets`)."""
    by_key: dict[str, Target] = {}
    candidates: list[Candidate] = []
    spent: list[str] = []
    busy: list[str] = []
    for spec in resolved.targets:
        provider = snapshot.providers.get(spec.provider)
        if provider is None or not provider.enabled or provider.kind not in ADAPTERS:
            continue
        if provider.name in over_budget:
            spent.append(provider.name)
            continue
        key_ = f"{provider.name}/{spec.model}"
        if key_ in over_quota:
            busy.append(key_)
            continue
        model = provider.model(spec.model)
        candidate = Candidate(  # positional: a frozen dataclass takes keywords at twice the cost
            provider.name,
            spec.model,
            spec.priority,
            spec.weight,
            model.input_cost_per_mtok,
            model.output_cost_per_mtok,
            model.context_window,
            health.snapshot(key_),
        )
        candidates.append(candidate)
        by_key[key_] = Target(candidate, provider, ADAPTERS[provider.kind], model)
    if not candidates:
        if busy:
            wait = min((quota_resets or {}).get(name, 60.0) for name in busy)
            raise RateLimitedError(
                f"Every upstream of '{resolved.name}' is at its deployment's rpm/tpm ({', '.join(busy)})",
                retry_after=wait,
            )
        if spent:
            wait = min((resets or {}).get(name, 60.0) for name in spent)
            names = ", ".join(dict.fromkeys(spent))
            raise BudgetExceededError(
                f"Every upstream of '{resolved.name}' is over its budget ({names})", retry_after=wait
            )
        raise ProviderError(f"Model '{resolved.name}' has no enabled upstream")
    if resolved.route is None and len(candidates) == 1:
        # A provider's model named directly: one target, the default strategy, nothing to order. Not
        # calling it saves ~7 µs at moderate rates (code a request need not touch is not cold-loaded).
        return list(by_key.values()), candidates
    params = resolved.params
    plan = key.plan
    ctx = RouteContext(
        route=resolved.name,
        plan=plan.name if plan else None,
        plan_targets=plan_targets(key),
        estimated_prompt_tokens=estimated_prompt_tokens,
        max_output_tokens=max_output_tokens,
        stream=stream,
        params={"inner": params.inner, "exploration": params.exploration, **params.extra},
        rng=rng,
    )
    try:
        ranked = strategies.get(resolved.strategy).rank(candidates, ctx)
    except strategies.UnknownStrategyError as exc:
        # Names are validated when a route is written (plan-gated's inner too); a third-party
        # strategy package uninstalled since lands here: a clear 503, not a 500.
        raise ServiceUnavailableError(f"Route '{resolved.name}' cannot be served: {exc}") from None
    if not ranked:
        raise ModelNotAllowedError(f"No target of '{resolved.name}' is available to this API key's plan")
    return [by_key[c.key] for c in ranked], ranked
