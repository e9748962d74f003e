"""cost-based: the cheapest target that can hold the request, healthy ones first."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from strategies.base import Candidate, RouteContext

__all__ = ["CostBased"]

DEFAULT_OUTPUT_TOKENS = 1024
"""Output budget assumed for the window check and the price when the request sets no max."""


class CostBased:
    """Order targets by the expected price of this request; drop the ones it cannot fit.

    The price is ``expected_cost(estimated_prompt_tokens, max_output_tokens or 1024)``;
    ties go to the lower priority number, then the faster target. Targets whose context
    window cannot hold prompt plus output are dropped, since sending them the request
    can only fail. When no target fits, all are returned, largest window first, so that
    the upstream answers with a clear context-length error. Open-breaker targets follow
    the available ones, cheapest first, and are never dropped for being down.
    """

    name: ClassVar[str] = "cost-based"

    def rank(self, candidates: Sequence[Candidate], ctx: RouteContext) -> list[Candidate]:
        prompt = ctx.estimated_prompt_tokens
        output = DEFAULT_OUTPUT_TOKENS if ctx.max_output_tokens is None else ctx.max_output_tokens
        indexed = [(i, c) for i, c in enumerate(candidates) if c.fits(prompt, output)]
        if not indexed:
            widest = sorted(enumerate(candidates), key=lambda ic: (-(ic[1].context_window or math.inf), ic[0]))
            return [c for _, c in widest]

        def key(ic: tuple[int, Candidate]) -> tuple[bool, float, int, float, int]:
            i, c = ic
            speed = c.health.speed_ms
            return (
                not c.health.available,
                c.expected_cost(prompt, output),
                c.priority,
                math.inf if speed is None else speed,
                i,
            )

        return [c for _, c in sorted(indexed, key=key)]
