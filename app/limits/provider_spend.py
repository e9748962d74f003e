"""Provider budgets: what each provider account has cost today and this month, across every key.

Spend is added to the limiter's counter backend after each call (off the caller's path, like a
key's spend), so replicas sharing Redis or Postgres share it. Which providers are over budget is
read back by a background refresh every second into `over`, a frozenset the router reads: the
request path never waits on the counter store for it. A provider may so overspend by what one
second of traffic costs; a budget is a cut-off, not an exact bill.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from app.gateway.snapshot import ProviderEntry
from app.limits.admit import Windows
from app.limits.base import CounterBackend

__all__ = ["ProviderSpend", "has_budget"]

log = logging.getLogger("polyroute.limits")

_NOTHING: dict[str, Any] = {}


def _counters(name: str, w: Windows) -> tuple[str, str]:
    return f"pspend:{name}:{w.day}", f"pspend:{name}:{w.month}"


def has_budget(provider: ProviderEntry) -> bool:
    return provider.daily_budget_usd is not None or provider.monthly_budget_usd is not None


class ProviderSpend:
    def __init__(self, backend: CounterBackend, clock: Callable[[], float] = time.time) -> None:
        self._backend = backend
        self._clock = clock
        self.over: frozenset[str] = frozenset()
        """Providers whose day or month budget is spent: routes skip them."""
        self.resets: dict[str, float] = {}
        """Over-budget provider -> seconds until its spent window ends (Retry-After when nothing else is left)."""
        self._pending: set[asyncio.Task[None]] = set()

    def add_soon(self, provider: ProviderEntry, cost: float) -> None:
        """Count a call's cost against the provider's windows, in the background."""
        if cost <= 0 or not has_budget(provider):
            return
        task = asyncio.get_running_loop().create_task(self._add(provider.name, cost))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _add(self, name: str, cost: float) -> None:
        w = Windows.at(self._clock())
        day, month = _counters(name, w)
        try:
            await self._backend.add(day, cost, w.day_left + 3600)
            await self._backend.add(month, cost, w.month_left + 3600)
        except (ConnectionError, OSError, TimeoutError) as exc:
            log.warning("could not record provider spend: %s", exc)

    async def refresh(self, providers: Iterable[ProviderEntry]) -> None:
        """Re-read the spend of every provider that has a budget; an unreachable store keeps the last view."""
        w = Windows.at(self._clock())
        over: dict[str, float] = {}
        try:
            for provider in providers:
                if not has_budget(provider):
                    continue
                day, month = _counters(provider.name, w)
                monthly, daily = provider.monthly_budget_usd, provider.daily_budget_usd
                if monthly is not None and await self._backend.get(month) >= monthly:
                    over[provider.name] = w.month_left
                elif daily is not None and await self._backend.get(day) >= daily:
                    over[provider.name] = w.day_left
        except (ConnectionError, OSError, TimeoutError) as exc:
            log.warning("could not read provider spend: %s", exc)
            return
        self.over, self.resets = frozenset(over), over

    def view(self) -> dict[str, Any]:
        """What the router needs: nothing at all while no provider is over its budget."""
        return {"over_budget": self.over, "resets": self.resets} if self.over else _NOTHING

    async def spent(self, provider: ProviderEntry) -> tuple[float, float]:
        """(today, this month) in USD, for the health endpoint."""
        day, month = _counters(provider.name, Windows.at(self._clock()))
        return await self._backend.get(day), await self._backend.get(month)

    async def close(self, timeout_s: float = 5.0) -> None:
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout_s)
