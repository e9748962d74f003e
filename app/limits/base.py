"""The counter backend contract: atomic check-and-add over several windows at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["CounterBackend", "CounterStoreUnavailableError", "Hit", "Verdict", "over_limit"]


class CounterStoreUnavailableError(ConnectionError):
    """The shared counter store (Redis, Postgres) did not answer in time; the limiter's policy decides."""


@dataclass(frozen=True, slots=True)
class Hit:
    """Add `amount` to counter `key` (expiring at the end of its window) if it stays within `limit`."""

    key: str
    limit: float
    amount: float
    ttl_s: float
    check_only: bool = False
    """Admit while the counter is below the limit, without adding (tokens, budget: added after)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    value: float
    """The counter after the call (unchanged when refused)."""
    refused_index: int | None = None
    """Which hit refused, when one did."""


def over_limit(hit: Hit, value: float) -> bool:
    """Would `hit` against a counter now at `value` be refused? The one rule every backend applies."""
    return value >= hit.limit if hit.check_only else value + hit.amount > hit.limit


class CounterBackend(Protocol):
    """Where counters live. Backends raise `CounterStoreUnavailableError` when their store is down."""

    async def hit(self, hits: list[Hit]) -> tuple[Verdict, list[float]]:
        """All-or-nothing: either every non-check hit is added, or none is. Returns values per hit."""
        ...

    async def add(self, key: str, amount: float, ttl_s: float) -> float:
        """Unconditional add (tokens and spend, after the request)."""
        ...

    async def get(self, key: str) -> float: ...

    async def close(self) -> None: ...
