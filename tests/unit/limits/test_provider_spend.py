"""Provider budgets: spend added after calls, read back into the set of providers the router skips."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from app.gateway.snapshot import ProviderEntry
from app.limits.memory import MemoryCounters
from app.limits.provider_spend import ProviderSpend
from tests.unit.limits.test_admit import Clock

NOON = datetime(2026, 3, 1, 12, 0, 15, tzinfo=UTC)


def provider(name: str, daily: float | None = None, monthly: float | None = None) -> ProviderEntry:
    return ProviderEntry(
        name, name, "openai", "http://x", None, True, 60.0, None, None, {}, {},
        daily_budget_usd=daily, monthly_budget_usd=monthly,
    )  # fmt: skip


async def _settled(spend: ProviderSpend) -> None:
    await asyncio.sleep(0)
    await spend.close()


async def test_a_spent_day_or_month_puts_the_provider_over_until_its_window_ends() -> None:
    clock = Clock(NOON)
    spend = ProviderSpend(MemoryCounters(clock), clock)
    daily, monthly, free = provider("d", daily=1.0), provider("m", monthly=5.0), provider("f")
    for p, cost in ((daily, 0.6), (daily, 0.5), (monthly, 4.0), (free, 100.0)):
        spend.add_soon(p, cost)
    await _settled(spend)
    await spend.refresh([daily, monthly, free])
    assert spend.over == {"d"} and spend.view() == {"over_budget": {"d"}, "resets": spend.resets}
    assert 11 * 3600 < spend.resets["d"] <= 12 * 3600, "until the UTC day ends"
    assert await spend.spent(daily) == (1.1, 1.1) and await spend.spent(free) == (0.0, 0.0), "no budget: not counted"
    clock.at(datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC))
    spend.add_soon(monthly, 1.5)
    await _settled(spend)
    await spend.refresh([daily, monthly, free])
    assert spend.over == {"m"}, "a new day frees the daily budget; the month's is spent"


async def test_nothing_over_budget_gives_the_router_nothing_to_read() -> None:
    spend = ProviderSpend(MemoryCounters(Clock(NOON)), Clock(NOON))
    await spend.refresh([provider("d", daily=1.0)])
    assert spend.over == frozenset() and spend.view() == {}
