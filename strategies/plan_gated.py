"""plan-gated: only the targets the caller's plan may use, ordered by another strategy."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import ClassVar

from strategies.base import Candidate, RouteContext

__all__ = ["PlanGated"]

DEFAULT_INNER = "priority-fallback"


class PlanGated:
    """Drop targets whose ``provider/model`` matches none of the plan's globs, then delegate.

    ``ctx.plan_targets`` holds the globs (``fnmatchcase``, so matching is case-sensitive);
    an empty tuple allows every target. The survivors are ranked by the strategy named in
    ``ctx.params["inner"]`` (default ``priority-fallback``), and its answer is filtered
    again so that no inner strategy can put a forbidden target back. An empty result means
    the plan may use none of the route's targets: the caller answers 403 MODEL_NOT_ALLOWED.
    """

    name: ClassVar[str] = "plan-gated"

    def rank(self, candidates: Sequence[Candidate], ctx: RouteContext) -> list[Candidate]:
        # Imported here: strategies/__init__.py imports this module to register it.
        from strategies import get

        def allowed(c: Candidate) -> bool:
            return not ctx.plan_targets or any(fnmatchcase(c.key, p) for p in ctx.plan_targets)

        kept = [c for c in candidates if allowed(c)]
        if not kept:
            return []
        inner = ctx.params.get("inner") or DEFAULT_INNER
        if inner == self.name:
            # Gating twice changes nothing, and delegating to itself would never end.
            inner = DEFAULT_INNER
        return [c for c in get(inner).rank(kept, ctx) if allowed(c)]
