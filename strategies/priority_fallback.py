"""priority-fallback: lowest priority number first; open breakers go last, never dropped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from strategies.base import Candidate, RouteContext

__all__ = ["PriorityFallback"]


class PriorityFallback:
    """Try targets in configured priority order, healthy ones before ones whose breaker is open.

    Open-breaker targets stay at the end of the list so that a route whose every target
    looks down still makes an attempt instead of failing without trying.
    """

    name: ClassVar[str] = "priority-fallback"

    def rank(self, candidates: Sequence[Candidate], ctx: RouteContext) -> list[Candidate]:
        indexed = list(enumerate(candidates))
        indexed.sort(key=lambda ic: (not ic[1].health.available, ic[1].priority, ic[0]))
        return [c for _, c in indexed]
