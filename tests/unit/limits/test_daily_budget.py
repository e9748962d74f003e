"""A daily budget: spend settles per UTC day, the next day starts afresh, and a key may override its plan's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.catalog.specs import Limits, PlanSpec
from app.errors import BudgetExceededError, RateLimitedError
from app.gateway.snapshot import KeyRecord
from app.limits.admit import Limiter, effective_limits
from app.limits.memory import MemoryCounters
from tests.unit.limits.test_admit import Clock

NOON = datetime(2026, 3, 1, 12, 0, 15, tzinfo=UTC)
PLAN = PlanSpec(name="p", daily_budget_usd=0.05)


def key(limits: Limits | None = None) -> KeyRecord:
    return KeyRecord("k1", "k1", "sk-poly", PLAN, None, limits or Limits(), None)


async def test_spend_past_the_days_budget_is_refused_until_the_next_day() -> None:
    clock = Clock(NOON)
    lim = Limiter(MemoryCounters(clock), clock=clock)
    k = key()
    admitted = await lim.admit(k)
    await lim.settle(k, admitted.limits, 10, 0.06)
    with pytest.raises(BudgetExceededError) as refused:
        await lim.admit(k)
    assert "a budget of $0.05 per UTC day" in refused.value.detail
    assert 11 * 3600 < refused.value.retry_after <= 12 * 3600  # until midnight UTC
    clock.at(NOON + timedelta(hours=12))
    await lim.admit(k)


def test_a_keys_own_daily_budget_overrides_its_plans() -> None:
    assert effective_limits(key()).daily_budget_usd == 0.05
    assert effective_limits(key(Limits(daily_budget_usd=1.0))).daily_budget_usd == 1.0


async def test_out_of_budget_reads_the_budgets_and_counts_nothing() -> None:
    clock = Clock(NOON)
    lim = Limiter(MemoryCounters(clock), clock=clock)
    k = key(Limits(rpm=1))
    admitted = await lim.admit(k)  # rpm 1 used: a second admission would be refused for the minute
    assert await lim.out_of_budget(k) is None
    await lim.settle(k, admitted.limits, 10, 0.06)
    spent = await lim.out_of_budget(k)
    assert isinstance(spent, BudgetExceededError) and "a budget of $0.05 per UTC day" in spent.detail
    assert 11 * 3600 < spent.retry_after <= 12 * 3600
    assert await lim.out_of_budget(KeyRecord("k2", "k2", "sk-poly", None, None, Limits(rpm=5), None)) is None
    fresh = KeyRecord("k3", "k3", "sk-poly", PLAN, None, Limits(rpm=1), None)
    for _ in range(3):  # reads take nothing: the key's one request of the minute is still there
        assert await lim.out_of_budget(fresh) is None
    await lim.admit(fresh)
    with pytest.raises(RateLimitedError):
        await lim.admit(fresh)
