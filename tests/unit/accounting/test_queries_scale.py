"""A year of traffic in SQLite: every dashboard and API query stays fast (rollups + indexes, no full scans)."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from app.accounting.backfill import backfill_daily
from app.accounting.queries import UsageFilter, request_log, series, usage_summary
from app.accounting.rollups import HOURLY_COLUMNS, hourly_rows
from app.accounting.rows import EVENT_COLUMNS, event_values
from app.db.engine import migrate, use_database
from tests.unit.accounting.conftest import event

NOW = 1_800_000_000.0
YEAR_HOURS = 365 * 24
RAW_ROWS = 40_000


def _fill(path: Path) -> None:
    rng = random.Random(3)
    events = []
    for i in range(RAW_ROWS):
        ts = NOW - rng.random() * YEAR_HOURS * 3600 if i % 20 else NOW - rng.random() * 3600
        status = 200 if rng.random() < 0.97 else 502
        events.append(
            event(
                ts=ts,
                key_id=f"key_{i % 40}",
                model=("m1", "m2", "m3")[i % 3],
                provider=("p1", "p2")[i % 2],
                status=status,
                latency_ms=rng.lognormvariate(6, 0.7),
            )
        )
    with sqlite3.connect(path) as conn:
        marks = ", ".join("?" * len(EVENT_COLUMNS))
        conn.executemany(
            f"INSERT INTO usage_event ({', '.join(EVENT_COLUMNS)}) VALUES ({marks})", (event_values(e) for e in events)
        )
        marks = ", ".join("?" * len(HOURLY_COLUMNS))
        conn.executemany(
            f"INSERT INTO usage_hourly ({', '.join(HOURLY_COLUMNS)}) VALUES ({marks})", hourly_rows(events)
        )


@pytest.fixture(scope="module")
def year_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("year") / "year.db"
    url = f"sqlite:///{path}"
    with ThreadPoolExecutor(max_workers=1) as pool:  # its own loop: pytest-asyncio owns this thread's
        pool.submit(asyncio.run, migrate(url)).result()
    _fill(path)
    return url


@pytest.fixture
async def bound(year_db: str) -> str:
    use_database(year_db)
    await backfill_daily(now=NOW + 86400)  # the rows went straight into usage_hourly: fold their days
    return year_db


async def timed(call: Awaitable[Any]) -> tuple[Any, float]:
    """CPU seconds the query cost this process (SQLite runs in aiosqlite's thread, which this counts).

    CPU, not wall-clock time: the budget is there to catch full scans, and on a shared two-core
    machine the wall clock mostly measures the other jobs.
    """
    start = time.process_time()
    result = await call
    return result, time.process_time() - start


async def test_a_year_of_rows_answers_fast(bound: str) -> None:
    with sqlite3.connect(bound[len("sqlite:///") :]) as conn:
        hourly = conn.execute("SELECT COUNT(*) FROM usage_hourly").fetchone()[0]
    assert hourly > 30_000  # a year of hourly rollups per key, plan, model, provider and status
    checks: list[tuple[str, Awaitable[Any]]] = [
        ("series hour", series("hour", "model", now=NOW)),
        ("series day", series("day", "provider", now=NOW)),
        ("series week", series("week", "model", now=NOW)),
        ("series month", series("month", now=NOW)),
        ("usage by day and model, a year", usage_summary(UsageFilter(), ["day", "model"])),
        ("usage by hour, a year", usage_summary(UsageFilter(), ["hour"])),
        ("usage of one key", usage_summary(UsageFilter(key_id="key_7"), ["model"])),
        ("request log page", request_log(UsageFilter(), limit=100)),
        ("request log, one key's errors", request_log(UsageFilter(key_id="key_3", status=(500, 600)), limit=50)),
    ]
    for name, call in checks:
        result, seconds = await timed(call)
        assert result, name
        assert seconds < 1.0, f"{name} took {seconds:.2f}s of CPU"
    hour = await series("hour", now=NOW)
    assert sum(p.requests for p in hour.points) > RAW_ROWS // 20 * 0.85  # 55 of the last 60 minutes
    year = await usage_summary(UsageFilter(), ["day"])
    assert sum(g.requests for g in year) == RAW_ROWS
