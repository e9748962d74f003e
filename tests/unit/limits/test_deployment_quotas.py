"""Deployment quotas: calls and tokens added after each call, read back into the targets the router skips
for the rest of the minute, and the router skipping them."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from app.catalog.specs import Limits, ModelSpec, TargetSpec
from app.errors import RateLimitedError
from app.gateway.rank import rank_targets
from app.gateway.snapshot import CatalogSnapshot, KeyRecord, ResolvedModel
from app.health.scores import HealthRegistry
from app.limits.deployment_quotas import DeploymentQuotas
from app.limits.memory import MemoryCounters
from tests.entries import provider_entry
from tests.unit.limits.test_admit import Clock

MINUTE = datetime(2026, 3, 1, 12, 0, 15, tzinfo=UTC)
CAPPED = {"gpt": ModelSpec(id="gpt", rpm=2, tpm=1000), "gpt-*": ModelSpec(id="gpt-*", rpm=1)}


async def _settled(quotas: DeploymentQuotas) -> None:
    await asyncio.sleep(0)
    await quotas.close()


async def test_a_target_at_its_rpm_or_tpm_is_over_until_the_minute_ends() -> None:
    clock = Clock(MINUTE)
    quotas = DeploymentQuotas(MemoryCounters(clock), clock)
    east, west = provider_entry(name="east", models=CAPPED), provider_entry(name="west", models=CAPPED)
    quotas.add_soon("east/gpt", CAPPED["gpt"], 10)
    quotas.add_soon("east/gpt", CAPPED["gpt"], 10)  # rpm 2 reached
    quotas.add_soon("west/gpt", CAPPED["gpt"], 1200)  # tpm 1000 passed in one call
    quotas.add_soon("east/gpt-4", ModelSpec(id="gpt-4", rpm=1), 0)  # a glob's quota, for the name it matched
    quotas.add_soon("east/free", ModelSpec(id="free"), 99_999)  # no quota: not counted
    await _settled(quotas)
    await quotas.refresh([east, west])
    assert quotas.over == {"east/gpt", "west/gpt", "east/gpt-4"}
    assert quotas.view() == {"over_quota": quotas.over, "quota_resets": quotas.resets}
    assert quotas.resets["east/gpt"] == pytest.approx(45.0)
    clock.at(datetime(2026, 3, 1, 12, 1, 0, tzinfo=UTC))
    await quotas.refresh([east, west])
    assert quotas.over == frozenset() and quotas.view() == {}, "a new minute frees them all"


async def test_a_quota_used_on_another_replica_is_read_for_every_listed_model() -> None:
    clock = Clock(MINUTE)
    counters = MemoryCounters(clock)
    other, here = DeploymentQuotas(counters, clock), DeploymentQuotas(counters, clock)
    for _ in range(2):
        other.add_soon("east/gpt", CAPPED["gpt"], 1)
    await _settled(other)
    await here.refresh([provider_entry(name="east", models=CAPPED)])  # `here` never served it
    assert here.over == {"east/gpt"}


def _rank(over: frozenset[str], resets: dict[str, float]) -> list[str]:
    providers = {n: provider_entry(name=n, models={"gpt": ModelSpec(id="gpt")}) for n in ("east", "west")}
    snapshot = CatalogSnapshot(1, providers, {}, {}, {}, {}, {})
    resolved = ResolvedModel(
        "route/r", None, (TargetSpec("east", "gpt", priority=0), TargetSpec("west", "gpt", priority=1))
    )
    key = KeyRecord("key_1", "k", "sk-poly-abcd", None, None, Limits(), None)
    targets, _ = rank_targets(
        resolved, snapshot, key, HealthRegistry(), estimated_prompt_tokens=0, max_output_tokens=None,
        stream=False, rng=random.Random(1), over_quota=over, quota_resets=resets,
    )  # fmt: skip
    return [t.key for t in targets]


def test_the_router_skips_a_target_at_its_quota_and_says_when_all_are() -> None:
    assert _rank(frozenset(), {}) == ["east/gpt", "west/gpt"]
    assert _rank(frozenset({"east/gpt"}), {"east/gpt": 30.0}) == ["west/gpt"]
    with pytest.raises(RateLimitedError) as refused:
        _rank(frozenset({"east/gpt", "west/gpt"}), {"east/gpt": 30.0, "west/gpt": 12.5})
    assert refused.value.headers["Retry-After"] == "13" and "rpm/tpm" in refused.value.detail
