"""tiered: priority tiers in order, the targets within a tier ordered by another strategy."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import ClassVar

from strategies.base import Candidate, RouteContext

__all__ = ["Tiered"]

DEFAULT_INNER = "latency-weighted"


class Tiered:
    """Load-balance inside a tier, fall back across tiers (Portkey's loadbalance-in-fallback, LiteLLM's
    deployments of a model group plus its `fallbacks`).

    Targets are grouped by ``priority`` (lowest first); each tier is ranked by the strategy named in
    ``ctx.params["inner"]`` (default ``latency-weighted``). Targets whose breaker is open then move to the
    end, as ``priority-fallback`` does, so a tier that is down does not hold up the next one, and a route
    whose every target looks down still makes an attempt.
    """

    name: ClassVar[str] = "tiered"

    def rank(self, candidates: Sequence[Candidate], ctx: RouteContext) -> list[Candidate]:
        # Imported here: strategies/__init__.py imports this module to register it.
        from strategies import get

        inner_name = ctx.params.get("inner") or DEFAULT_INNER
        inner = get(DEFAULT_INNER if inner_name == self.name else inner_name)
        ordered: list[Candidate] = []
        for _, tier in groupby(sorted(candidates, key=lambda c: c.priority), key=lambda c: c.priority):
            ordered += inner.rank(list(tier), ctx)
        return sorted(ordered, key=lambda c: not c.health.available)
