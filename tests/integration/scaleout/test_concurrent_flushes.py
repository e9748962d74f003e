"""Usage writers of several replicas flushing into one Postgres database at once never deadlock.

Each flush upserts rollup rows (per day, hour, key, model, ...) in one transaction. Two writers that
lock the same rows in different orders deadlock, and Postgres aborts one of them: its events stay in
the spool and are retried, but under load the replicas keep tripping over each other. Rows are
upserted in one global order, so concurrent flushes only ever queue.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator

import pytest

from app.accounting.events import Usage, UsageEvent
from app.accounting.rows import write_events
from app.db.engine import close_database, migrate, start_pool, use_database
from app.db.tables import UsageDailyRow, UsageEventRow, UsageHourlyRow

pytestmark = pytest.mark.postgres

WRITERS = 8
"""Concurrent flushes, each on its own pooled connection, as from eight replicas or workers."""


@pytest.fixture
async def bound(postgres_url: str) -> AsyncIterator[str]:
    await migrate(postgres_url)
    engine = use_database(postgres_url)
    await start_pool(engine)
    try:
        yield postgres_url
    finally:
        await close_database(engine)


def _batch(keys: list[str], rng: random.Random, tag: str) -> list[UsageEvent]:
    order = keys[:]
    rng.shuffle(order)  # every writer meets the same rollup rows in its own order
    now = time.time()
    return [
        UsageEvent(
            id=f"req_{tag}_{key}_{i}",
            ts=now,
            endpoint="chat.completions",
            status=200,
            key_id=key,
            plan="open",
            model="gpt-fake",
            provider="fakeai",
            usage=Usage(prompt_tokens=3, completion_tokens=2),
            latency_ms=10.0,
        )
        for key in order
        for i in range(3)
    ]


async def test_concurrent_flushes_over_the_same_rollup_rows_all_commit(bound: str) -> None:
    rng = random.Random(7)
    keys = [f"key_{i:02d}" for i in range(40)]
    for round_ in range(4):
        batches = [_batch(keys, rng, f"{round_}_{w}") for w in range(WRITERS)]
        results = await asyncio.gather(*(write_events(b) for b in batches), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        assert not failures, failures[0]
        assert results == [len(b) for b in batches]
    expected = 4 * WRITERS * len(keys) * 3
    assert await UsageEventRow.count().run() == expected
    daily = await UsageDailyRow.select(UsageDailyRow.requests).run()
    hourly = await UsageHourlyRow.select(UsageHourlyRow.requests).run()
    assert sum(r["requests"] for r in daily) == sum(r["requests"] for r in hourly) == expected
