"""latency-weighted: most traffic to the fastest healthy targets, a little everywhere so recoveries show."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from strategies.base import Candidate, RouteContext

__all__ = ["LatencyWeighted"]

EXPONENT = 4.0
"""k in weight / speed**k: a target twice as slow gets a sixteenth of the weighted picks."""
DEFAULT_EXPLORATION = 0.05


class LatencyWeighted:
    """Draw the first target at random, weighted towards speed; the others follow as fallbacks.

    Each available target scores ``weight * (1 - error_rate) / speed_ms ** 4``, where
    ``speed_ms`` is its EWMA time to first token (whole latency when no stream was seen).
    The first target is drawn with probability proportional to its score, so the fastest
    healthy target carries most requests while a close second keeps being measured; the
    rest follow by descending score. A target with no samples borrows the best known
    speed, so a new target is tried at once. With probability ``ctx.params["exploration"]``
    (default 0.05) the first is drawn uniformly instead, so that a target that recovered,
    or whose samples are stale, earns fresh ones. Open-breaker targets go last, never
    dropped: when every breaker is open the attempt loop still has something to try.
    """

    name: ClassVar[str] = "latency-weighted"

    def rank(self, candidates: Sequence[Candidate], ctx: RouteContext) -> list[Candidate]:
        known = [s for c in candidates if (s := c.health.speed_ms) is not None]
        best = min(known, default=1.0)

        def score(c: Candidate) -> float:
            speed = c.health.speed_ms
            speed = max(best if speed is None else speed, 1e-3)
            return c.weight * max(0.0, 1.0 - c.health.error_rate) / speed**EXPONENT

        scores = [score(c) for c in candidates]
        order = sorted(
            range(len(candidates)),
            key=lambda i: (not candidates[i].health.available, -scores[i], candidates[i].priority, i),
        )
        ready = [i for i in order if candidates[i].health.available]
        if not ready:
            return [candidates[i] for i in order]
        value = ctx.params.get("exploration")
        exploration = DEFAULT_EXPLORATION if value is None else float(value)
        if ctx.rng.random() < exploration:
            first = ready[ctx.rng.randrange(len(ready))]
        elif sum(scores[i] for i in ready) > 0:
            first = ctx.rng.choices(ready, weights=[scores[i] for i in ready])[0]
        else:
            first = ready[0]
        return [candidates[first], *(candidates[i] for i in order if i != first)]
