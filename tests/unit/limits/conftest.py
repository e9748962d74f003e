"""Counter backends for the contract tests: in-process, real Redis, real Postgres."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.db.engine import migrate
from app.limits.base import CounterBackend
from app.limits.memory import MemoryCounters
from app.limits.postgres import PostgresCounters
from app.limits.redis import RedisCounters
from tests.db_backends import database_url
from tests.integration.usage.redis_server import shared_redis_url

COUNTER_BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="session")
def counters_pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated Postgres database for every counter test (counter keys are unique per test)."""
    with database_url("postgres", tmp_path_factory.mktemp("counters-pg")) as url:
        with ThreadPoolExecutor(max_workers=1) as pool:  # its own loop: pytest-asyncio owns this thread's
            pool.submit(asyncio.run, migrate(url)).result()
        yield url


@pytest.fixture(params=COUNTER_BACKENDS)
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[CounterBackend]:
    kind = request.param
    backend: CounterBackend
    if kind == "memory":
        backend = MemoryCounters()
    elif kind == "redis":
        backend = RedisCounters(shared_redis_url(), timeout_s=5)
    else:
        url = request.getfixturevalue("counters_pg_url")
        backend = PostgresCounters(url, timeout_s=5)
    yield backend
    await backend.close()


@pytest.fixture
def prefix() -> str:
    """Unique counter names, so tests sharing one Redis or database never see each other."""
    return f"t{secrets.token_hex(6)}"
