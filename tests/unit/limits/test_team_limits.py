"""A team's limits hold the sum of its keys, and its models narrow what its keys' plans allow."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from app.catalog.specs import EndUserLimits, Limits, PlanSpec
from app.errors import BudgetExceededError, LimitError, RateLimitedError
from app.gateway.resolve import model_allowed
from app.gateway.snapshot import KeyRecord, TeamRecord
from app.limits.admit import Limiter
from app.limits.memory import MemoryCounters
from tests.unit.limits.test_admit import Clock

NOON = datetime(2026, 3, 1, 12, 0, 15, tzinfo=UTC)
RED = TeamRecord("team_red", "red", None, EndUserLimits(rpm=3, monthly_budget_usd=0.05))


def key(key_id: str, team: TeamRecord | None = RED, plan: PlanSpec | None = None) -> KeyRecord:
    return KeyRecord(key_id, key_id, "sk-poly", plan or PlanSpec(name="p", rpm=100), None, Limits(), None, team=team)


def limiter() -> Limiter:
    clock = Clock(NOON)
    return Limiter(MemoryCounters(clock), clock=clock)


async def test_a_teams_keys_share_its_rpm_and_keys_outside_it_do_not() -> None:
    lim = limiter()
    first, second = key("k1"), key("k2")
    for k in (first, second, first):
        await lim.admit(k)
    with pytest.raises(LimitError) as caught:
        await lim.admit(second)
    assert isinstance(caught.value, RateLimitedError)
    assert "3 requests per minute for team 'red'" in caught.value.detail
    for _ in range(5):
        await lim.admit(key("k3", team=None))


async def test_spend_settles_on_the_team() -> None:
    lim = limiter()
    first, second = key("k1"), key("k2")
    admitted = await lim.admit(first)
    lim.settle_soon(first, admitted.limits, 10, 0.06)  # the key itself has no budget: settled for the team
    for _ in range(3):
        await asyncio.sleep(0)  # the settle task runs
    with pytest.raises(BudgetExceededError):
        await lim.admit(second)


async def test_a_team_without_limits_counts_nothing() -> None:
    lim = limiter()
    free = TeamRecord("team_free", "free", None, EndUserLimits())
    await lim.admit(key("k1", team=free))
    assert await lim.backend.get("rpm:team~team_free:" + str(int(NOON.timestamp() // 60))) == 0


def test_a_teams_models_narrow_its_keys_plans() -> None:
    narrow = TeamRecord("team_n", "n", ("openai/*",), EndUserLimits())
    assert model_allowed(key("k", team=narrow), "openai/gpt-4.1")
    assert not model_allowed(key("k", team=narrow), "anthropic/claude")
    plan = PlanSpec(name="mini", models=["openai/gpt-4.1-mini"])
    assert not model_allowed(key("k", team=narrow, plan=plan), "openai/gpt-4.1")  # the plan still holds
    assert model_allowed(key("k", team=None), "anthropic/claude")
