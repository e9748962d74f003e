"""Per-end-user limits: each end user of a key has the plan's end-user windows, on top of the key's own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.catalog.specs import EndUserLimits, Limits, PlanSpec
from app.errors import BudgetExceededError, DailyRequestLimitExceededError, LimitError, RateLimitedError
from app.gateway.snapshot import KeyRecord
from app.limits.admit import Limiter
from app.limits.memory import MemoryCounters
from tests.unit.limits.test_admit import Clock

NOON = datetime(2026, 3, 1, 12, 0, 15, tzinfo=UTC)


def key(plan: PlanSpec, key_id: str = "key_1") -> KeyRecord:
    return KeyRecord(key_id, "k", "sk-poly", plan, None, Limits(), None)


def limiter() -> tuple[Limiter, Clock]:
    clock = Clock(NOON)
    return Limiter(MemoryCounters(clock), clock=clock), clock


async def refusal(lim: Limiter, k: KeyRecord, end_user: str | None) -> LimitError:
    with pytest.raises(LimitError) as caught:
        await lim.admit(k, end_user)
    return caught.value


async def test_each_end_user_has_its_own_windows() -> None:
    lim, clock = limiter()
    k = key(PlanSpec(name="p", rpm=10, end_user_limits=EndUserLimits(rpm=2)))
    for _ in range(2):
        await lim.admit(k, "alice")
    error = await refusal(lim, k, "alice")
    assert isinstance(error, RateLimitedError) and "2 requests per minute for end user 'alice'" in error.detail
    assert error.headers["x-ratelimit-remaining-requests"] == "0"  # the tightest window speaks
    admitted = await lim.admit(k, "bob")  # another end user of the same key
    assert admitted.headers["x-ratelimit-limit-requests"] == "2" and admitted.end_user is not None
    assert (await lim.admit(k, None)).end_user is None  # a call that names no end user: the key's limits only
    other_key = key(k.plan, key_id="key_2")  # type: ignore[arg-type]
    await lim.admit(other_key, "alice")  # end users are per key
    clock.at(datetime(2026, 3, 1, 12, 1, 0, tzinfo=UTC))
    await lim.admit(k, "alice")


async def test_the_keys_own_limit_still_binds_and_a_refusal_adds_nothing() -> None:
    lim, _ = limiter()
    k = key(PlanSpec(name="p", daily_requests=3, end_user_limits=EndUserLimits(daily_requests=2)))
    await lim.admit(k, "alice")
    await lim.admit(k, "alice")
    assert isinstance(await refusal(lim, k, "alice"), DailyRequestLimitExceededError)
    await lim.admit(k, "bob")
    error = await refusal(lim, k, "carol")  # the key's cap of 3 is spent: carol's own window is untouched
    assert "3 requests per UTC day" in error.detail and "end user" not in error.detail
    assert await lim.backend.get("day:key_1:20260301") == 3


async def test_spend_and_tokens_settle_on_the_end_user_too() -> None:
    lim, _ = limiter()
    k = key(PlanSpec(name="p", end_user_limits=EndUserLimits(monthly_budget_usd=0.01, tpm=100)))
    admitted = await lim.admit(k, "alice")
    await lim.settle(k, admitted.limits, 50, 0.02, admitted.end_user)
    error = await refusal(lim, k, "alice")
    assert isinstance(error, BudgetExceededError) and "end user 'alice'" in error.detail
    await lim.admit(k, "bob")
    await lim.admit(k, None)  # the key itself has no budget


async def test_no_end_user_limits_on_the_plan_means_no_end_user_counters() -> None:
    lim, _ = limiter()
    k = key(PlanSpec(name="p", rpm=5))
    admitted = await lim.admit(k, "alice")
    assert admitted.end_user is None and admitted.headers["x-ratelimit-limit-requests"] == "5"
