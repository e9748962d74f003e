"""A plan's `user_limits`: every key a user holds on the plan shares them, so more keys buy no more."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.catalog.specs import EndUserLimits, Limits, PlanSpec
from app.errors import BudgetExceededError, DailyRequestLimitExceededError, LimitError
from app.gateway.snapshot import KeyRecord
from app.limits.admit import Limiter
from app.limits.memory import MemoryCounters
from tests.unit.limits.test_admit import Clock

NOON = datetime(2026, 3, 1, 12, 0, 15, tzinfo=UTC)
PLAN = PlanSpec(name="p", daily_requests=10, user_limits=EndUserLimits(daily_requests=3, monthly_budget_usd=0.05))


def key(key_id: str, user_id: str | None, plan: PlanSpec = PLAN) -> KeyRecord:
    return KeyRecord(key_id, key_id, "sk-poly", plan, None, Limits(), None, user_id=user_id)


def limiter() -> Limiter:
    clock = Clock(NOON)
    return Limiter(MemoryCounters(clock), clock=clock)


async def refusal(lim: Limiter, k: KeyRecord) -> LimitError:
    with pytest.raises(LimitError) as caught:
        await lim.admit(k)
    return caught.value


async def test_a_users_keys_share_the_daily_cap_and_other_users_do_not() -> None:
    lim = limiter()
    first, second = key("k1", "u1"), key("k2", "u1")
    await lim.admit(first)
    await lim.admit(second)
    await lim.admit(first)
    error = await refusal(lim, second)
    assert isinstance(error, DailyRequestLimitExceededError)
    assert "3 requests per UTC day for this user's keys together" in error.detail
    await lim.admit(key("k3", "u2"))  # another user: their own share
    for _ in range(5):
        await lim.admit(key("k4", None))  # a key no user holds: the per-key cap only


async def test_spend_settles_on_the_users_share() -> None:
    lim = limiter()
    first, second = key("k1", "u1"), key("k2", "u1")
    admitted = await lim.admit(first)
    await lim.settle(first, admitted.limits, 10, 0.06, None)
    assert isinstance(await refusal(lim, second), BudgetExceededError)


async def test_a_plan_without_user_limits_counts_nothing_per_user() -> None:
    lim = limiter()
    plain = PlanSpec(name="plain", daily_requests=2)
    await lim.admit(key("k1", "u1", plain))
    await lim.admit(key("k2", "u1", plain))
    await lim.admit(key("k2", "u1", plain))  # each key its own 2
    assert await lim.backend.get("day:user~u1:20260301") == 0
