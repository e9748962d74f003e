"""Rollup folding, the latency histogram and percentiles estimated from it."""

from __future__ import annotations

import random
from datetime import date

import pytest

from app.accounting.rollups import (
    DAILY_COLUMNS,
    HOURLY_COLUMNS,
    bucket_index,
    daily_rows,
    hourly_rows,
    percentile,
    rollup_id,
)
from app.db.tables import LATENCY_BUCKETS_MS
from tests.unit.accounting.conftest import event


def test_bucket_bounds_are_inclusive_upper_bounds() -> None:
    assert bucket_index(0) == 0
    assert bucket_index(1) == 0
    assert bucket_index(1.01) == 1
    assert bucket_index(60000) == len(LATENCY_BUCKETS_MS) - 1
    assert bucket_index(60001) == len(LATENCY_BUCKETS_MS)


def test_percentiles_from_the_histogram_track_the_exact_ones() -> None:
    rng = random.Random(7)
    latencies = [rng.lognormvariate(6.5, 0.6) for _ in range(20000)]  # median about 665 ms
    histogram = [0.0] * (len(LATENCY_BUCKETS_MS) + 1)
    for value in latencies:
        histogram[bucket_index(value)] += 1
    ordered = sorted(latencies)
    for q in (0.5, 0.95):
        exact = ordered[int(q * len(ordered))]
        estimate = percentile(histogram, q)
        assert estimate is not None
        assert abs(estimate - exact) / exact < 0.12, (q, exact, estimate)
    assert percentile([0.0] * len(histogram), 0.5) is None


def test_hourly_rows_group_by_hour_key_plan_model_provider_status() -> None:
    hour = 1_800_000_000 // 3600 * 3600
    events = [
        event(ts=hour + 5, latency_ms=40, usage={"prompt_tokens": 10, "completion_tokens": 2, "cached_tokens": 4}),
        event(ts=hour + 3000, latency_ms=900, ttft_ms=100, usage={"completion_tokens": 7, "reasoning_tokens": 3}),
        event(ts=hour + 3600, latency_ms=40),
        event(ts=hour + 10, status=429, provider=None, model=None, latency_ms=0.5, cost_usd=0.0),
    ]
    rows = {(r[1], r[6]): dict(zip(HOURLY_COLUMNS, r, strict=True)) for r in hourly_rows(events)}
    assert set(rows) == {(hour, 200), (hour + 3600, 200), (hour, 429)}
    first = rows[(hour, 200)]
    assert first["requests"] == 2 and first["errors"] == 0
    assert (first["prompt_tokens"], first["completion_tokens"]) == (10, 9)
    assert (first["cached_tokens"], first["reasoning_tokens"]) == (4, 3)
    assert (first["ttft_ms_sum"], first["ttft_count"]) == (100, 1)
    assert first[f"lat_{bucket_index(40)}"] == 1 and first[f"lat_{bucket_index(900)}"] == 1
    refused = rows[(hour, 429)]
    assert refused["errors"] == 1 and refused["lat_0"] == 1
    ids = {row["id"] for row in rows.values()}
    assert len(ids) == 3 and all(len(i) == 16 for i in ids)  # a short hash of the dimensions


@pytest.mark.parametrize("count", [1, 3])
def test_daily_rows_sum_a_day(count: int) -> None:
    rows = daily_rows([event(ts=1_800_000_000.0 + i, cost_usd=0.25) for i in range(count)])
    assert len(rows) == 1
    row = dict(zip(DAILY_COLUMNS, rows[0], strict=True))
    assert row["day"] == date(2027, 1, 15) and row["requests"] == count and row["cost_usd"] == 0.25 * count
    assert row["id"] == rollup_id(date(2027, 1, 15), "key_a", "free", "gpt-4.1-mini", "openai", 200)


def test_the_sql_bucket_is_the_rollups_bucket_for_every_latency() -> None:
    """The request log's latency bucket in SQL (nested CASEs) agrees with `bucket_index` at and around every bound."""
    import sqlite3

    from app.accounting.filters import LATENCY_BUCKET_SQL

    latencies = [0.0, 0.5, 70_000.0] + [b + d for b in LATENCY_BUCKETS_MS for d in (-0.01, 0.0, 0.01)]
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE t (latency_ms REAL)")
        db.executemany("INSERT INTO t VALUES (?)", [(v,) for v in latencies])
        rows = db.execute(f"SELECT latency_ms, {LATENCY_BUCKET_SQL} FROM t").fetchall()
    assert [bucket for _, bucket in rows] == [bucket_index(v) for v, _ in rows]
