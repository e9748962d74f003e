"""A migrated database per storage backend (SQLite, Postgres), bound to the piccolo tables, emptied per test."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from app.accounting.events import Usage, UsageEvent
from app.accounting.queue import UsageQueue
from app.accounting.writer import UsageWriter
from app.db.engine import close_database, migrate, start_pool, use_database
from tests.db_backends import BACKENDS, database_url

_TABLES = (
    "usage_event",
    "usage_tag",
    "usage_payload",
    "usage_hourly",
    "usage_daily",
    "api_key",
    "limit_counter",
    "audit_event",
    "alert",
)
_ids = itertools.count()


@pytest.fixture(scope="session", params=BACKENDS)
def accounting_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with database_url(str(request.param), tmp_path_factory.mktemp("accounting-db")) as url:
        with ThreadPoolExecutor(max_workers=1) as pool:  # its own loop: pytest-asyncio owns this thread's
            pool.submit(asyncio.run, migrate(url)).result()
        yield url


@pytest.fixture
async def db(accounting_url: str) -> AsyncIterator[str]:
    """The database URL, bound and empty."""
    engine = use_database(accounting_url)
    await start_pool(engine)
    for table in _TABLES:
        await engine.run_ddl(f"DELETE FROM {table}")
    yield accounting_url
    await close_database(engine)


def event(**fields: Any) -> UsageEvent:
    """A plausible usage event; any field may be overridden (`usage=` takes a Usage or a dict)."""
    usage = fields.pop("usage", None)
    defaults: dict[str, Any] = {
        "id": f"req_{next(_ids):08d}_{time.time_ns()}",
        "ts": time.time(),
        "endpoint": "chat.completions",
        "status": 200,
        "key_id": "key_a",
        "plan": "free",
        "requested_model": "route/fast",
        "provider": "openai",
        "model": "gpt-4.1-mini",
        "latency_ms": 120.0,
        "attempts": 1,
        "cost_usd": 0.0001,
        "detail": {"attempts": [{"provider": "openai", "model": "gpt-4.1-mini", "outcome": "ok", "status": 200}]},
        "trace_id": "0" * 32,
    }
    defaults.update(fields)
    if isinstance(usage, dict):
        usage = Usage(**usage)
    return UsageEvent(usage=usage or Usage(prompt_tokens=10, completion_tokens=5), **defaults)


async def store(tmp_path: Path, events: list[UsageEvent]) -> None:
    """`events` written by the usage writer, as the gateway writes them."""
    w = UsageWriter(UsageQueue(), str(tmp_path / f"usage-spool-{os.getpid()}.jsonl"))
    for e in events:
        w.queue.put(e)
    assert await w.flush() == len(events)
