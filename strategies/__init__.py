"""Routing strategies: built-ins plus any registered under the `polyroute.strategies` entry points."""

from __future__ import annotations

from importlib.metadata import entry_points

from strategies.base import Candidate, HealthSnapshot, RouteContext, Strategy
from strategies.cost_based import CostBased
from strategies.latency_weighted import LatencyWeighted
from strategies.plan_gated import PlanGated
from strategies.priority_fallback import PriorityFallback
from strategies.tiered import Tiered

__all__ = [
    "ENTRY_POINT_GROUP",
    "Candidate",
    "HealthSnapshot",
    "RouteContext",
    "Strategy",
    "UnknownStrategyError",
    "available",
    "get",
]

ENTRY_POINT_GROUP = "polyroute.strategies"

_BUILTINS: dict[str, type] = {
    cls.name: cls for cls in (PriorityFallback, LatencyWeighted, CostBased, PlanGated, Tiered)
}
_cache: dict[str, Strategy] = {}


class UnknownStrategyError(LookupError):
    """No built-in or registered strategy has this name."""


def _from_entry_points(name: str) -> type | None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            loaded = ep.load()
            return loaded if isinstance(loaded, type) else type(loaded)
    return None


def available() -> list[str]:
    names = set(_BUILTINS)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def get(name: str) -> Strategy:
    """The strategy instance for `name`; strategies are stateless, so one instance serves all."""
    found = _cache.get(name)
    if found is not None:
        return found
    cls = _BUILTINS.get(name) or _from_entry_points(name)
    if cls is None:
        raise UnknownStrategyError(f"unknown strategy {name!r}; available: {', '.join(available())}")
    instance = cls()
    if not isinstance(instance, Strategy):
        raise UnknownStrategyError(f"{name!r} does not implement the Strategy protocol")
    _cache[name] = instance
    return instance
