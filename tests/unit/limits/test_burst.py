"""A burst that queues for the store's connections is not an outage: every call is counted, none fails open.

The store's timeout bounds its answer, not the wait for one of our own pooled connections: thousands
of admissions of one key at once take several timeouts to get through a pool of ten Postgres
connections (its row lock serialises them anyway), and each must still be counted exactly.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from app.limits.base import CounterBackend, CounterStoreUnavailableError, Hit
from app.limits.postgres import PostgresCounters
from app.limits.redis import RedisCounters
from tests.integration.usage.redis_server import shared_redis_url

TIMEOUT_S = 2.0
"""Each single answer must come within this. On busy CI machines single answers (Postgres and Redis
alike) passed 0.25 s because the event loop itself was late, and on a VM running at half speed 10 of
5,000 Postgres answers passed 1 s (the burst took 3-5 s there), so the bound is a loose two seconds
and the Postgres burst is sized to outlast it instead."""

BURST = {"postgres": 5000, "redis": 2000}
"""Admissions of one key at once. Postgres: ~1.3 s through its pool of ten on an idle fast machine,
3-5 s on the CI machine kind, so there many of them queue for longer than TIMEOUT_S. Redis
answers so fast that a burst outlasting the timeout would need tens of thousands of coroutines,
whose start alone keeps the event loop from reading the first answers for over a second (a 10,000
burst timed out 63 of them); its burst checks exact counting under a queue, and Postgres the queue
that outlasts the timeout."""


@pytest.mark.parametrize(
    "kind", [pytest.param("redis", marks=pytest.mark.redis), pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_a_burst_longer_than_the_timeout_is_counted_exactly(
    kind: str, request: pytest.FixtureRequest, prefix: str
) -> None:
    backend: CounterBackend
    if kind == "redis":
        backend = RedisCounters(shared_redis_url(), timeout_s=TIMEOUT_S)
    else:
        backend = PostgresCounters(request.getfixturevalue("counters_pg_url"), timeout_s=TIMEOUT_S)
    try:
        await backend.hit([Hit(f"warm:{prefix}", 1e9, 1, 60)])  # connect outside the measured burst

        async def one() -> bool | None:
            try:
                verdict, _ = await backend.hit([Hit(f"day:{prefix}", 50, 1, 86400)])
            except CounterStoreUnavailableError:
                return None
            return verdict.allowed

        started = time.monotonic()
        verdicts = await asyncio.gather(*(one() for _ in range(BURST[kind])))
        took = time.monotonic() - started
        print(f"{kind}: {BURST[kind]} admissions of one key in {took:.2f}s (store timeout {TIMEOUT_S}s)")
        assert (verdicts.count(True), verdicts.count(False), verdicts.count(None)) == (50, BURST[kind] - 50, 0)
        assert await backend.get(f"day:{prefix}") == 50
    finally:
        await backend.close()
