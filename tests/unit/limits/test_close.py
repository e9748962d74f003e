"""Shutdown: the limiter lets its pending settles count, then closes the store's connections (real Redis, Postgres)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import pytest
import redis.asyncio as aioredis

from app.catalog.specs import Limits, PlanSpec
from app.gateway.snapshot import KeyRecord
from app.limits.admit import Limiter, Windows, effective_limits
from app.limits.base import CounterBackend
from app.limits.postgres import APPLICATION_NAME, PostgresCounters
from app.limits.redis import RedisCounters
from tests.integration.usage.redis_server import shared_redis_url

Opened = Callable[[], Awaitable[int]]
"""How many connections the backend under test holds, counted by the server."""


def _redis(name: str) -> tuple[CounterBackend, Opened]:
    url = shared_redis_url()

    async def opened() -> int:
        client = aioredis.Redis.from_url(url)
        try:
            clients = await client.client_list()
        finally:
            await client.aclose()
        return sum(1 for c in clients if c.get("name") == name)

    return RedisCounters(url, timeout_s=5, client_name=name), opened


def _postgres(url: str) -> tuple[CounterBackend, Opened]:
    async def opened() -> int:
        conn = await asyncpg.connect(url)
        try:
            sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1"
            return int(await conn.fetchval(sql, APPLICATION_NAME))
        finally:
            await conn.close()

    return PostgresCounters(url, timeout_s=5), opened


@pytest.mark.parametrize(
    "kind", [pytest.param("redis", marks=pytest.mark.redis), pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_close_counts_pending_settles_then_drops_every_connection(
    kind: str, request: pytest.FixtureRequest, prefix: str
) -> None:
    if kind == "redis":
        backend, opened = _redis(f"polyroute-test-{secrets.token_hex(6)}")
    else:
        backend, opened = _postgres(request.getfixturevalue("counters_pg_url"))
    now = time.time()
    limiter = Limiter(backend, clock=lambda: now)
    plan = PlanSpec(name="p", tpm=10_000, monthly_budget_usd=5.0)
    key = KeyRecord(prefix, "k", "sk-poly", plan, None, Limits(), None)
    await limiter.admit(key)
    assert await opened() > 0
    for _ in range(3):
        limiter.settle_soon(key, effective_limits(key), 700, 0.25)  # queued, not yet run
    await limiter.close()
    assert await opened() == 0  # closed, and no settle reopened a connection after the close
    w = Windows.at(now)
    try:
        assert await backend.get(f"tpm:{prefix}:{w.minute}") == 2100
        assert await backend.get(f"spend:{prefix}:{w.month}") == pytest.approx(0.75)
    finally:
        await backend.close()
