"""Rollups: usage events folded into per-day and per-hour rows that are upserted additively.

The hourly rollup keeps a latency histogram (bounds in `LATENCY_BUCKETS_MS`), so dashboards get
p50/p95 per bucket from a few rows instead of a scan of the request log.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from app.accounting.events import UsageEvent
from app.db.tables import LATENCY_BUCKETS_MS

__all__ = [
    "DAILY_COLUMNS",
    "DAILY_KEYS",
    "HISTOGRAM_COLUMNS",
    "HOURLY_COLUMNS",
    "HOURLY_KEYS",
    "bucket_index",
    "daily_rows",
    "hourly_rows",
    "percentile",
    "upsert_sql",
]

HISTOGRAM_COLUMNS = tuple(f"lat_{i}" for i in range(len(LATENCY_BUCKETS_MS) + 1))

DAILY_COLUMNS = (
    "id",
    "day",
    "key_id",
    "model",
    "provider",
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "latency_ms_sum",
)
DAILY_KEYS = 5
"""The leading columns that identify a row; the rest are added on conflict."""

HOURLY_COLUMNS = (
    "id",
    "hour_ts",
    "key_id",
    "plan",
    "model",
    "provider",
    "status",
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "estimated",
    "cost_usd",
    "latency_ms_sum",
    "ttft_ms_sum",
    "ttft_count",
    *HISTOGRAM_COLUMNS,
)
HOURLY_KEYS = 7


def bucket_index(latency_ms: float) -> int:
    """The histogram bucket of a latency: the first bound it does not exceed (last = slower than all)."""
    return bisect.bisect_left(LATENCY_BUCKETS_MS, latency_ms)


def percentile(histogram: Sequence[float], q: float) -> float | None:
    """Estimate the q-quantile (0..1) from bucket counts, interpolating linearly inside the bucket."""
    total = sum(histogram)
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    for index, count in enumerate(histogram):
        if count and seen + count >= rank:
            low = LATENCY_BUCKETS_MS[index - 1] if index > 0 else 0.0
            if index >= len(LATENCY_BUCKETS_MS):
                return float(LATENCY_BUCKETS_MS[-1])
            high = LATENCY_BUCKETS_MS[index]
            return low + (high - low) * (rank - seen) / count
        seen += count
    return float(LATENCY_BUCKETS_MS[-1])


@dataclass(slots=True)
class _Sums:
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: int = 0
    cost_usd: float = 0.0
    latency_ms_sum: float = 0.0
    ttft_ms_sum: float = 0.0
    ttft_count: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * len(HISTOGRAM_COLUMNS))

    def add(self, e: UsageEvent) -> None:
        u = e.usage
        self.requests += 1
        self.errors += e.status >= 400
        self.prompt_tokens += u.prompt_tokens
        self.completion_tokens += u.completion_tokens
        self.cached_tokens += u.cached_tokens
        self.reasoning_tokens += u.reasoning_tokens
        self.estimated += u.estimated
        self.cost_usd += e.cost_usd
        self.latency_ms_sum += e.latency_ms
        if e.ttft_ms is not None:
            self.ttft_ms_sum += e.ttft_ms
            self.ttft_count += 1
        self.histogram[bucket_index(e.latency_ms)] += 1


def _row_id(*parts: object) -> str:
    return "|".join("" if p is None else str(p) for p in parts)[:400]


def _hashed_id(*parts: object) -> str:
    """16 characters (96 bits) instead of the joined dimensions: the hourly table is the big rollup,
    and its id is stored twice (row and primary-key index). Every dimension is its own column."""
    digest = hashlib.blake2b(_row_id(*parts).encode(), digest_size=12).digest()
    return base64.urlsafe_b64encode(digest).decode()


def daily_rows(events: Iterable[UsageEvent]) -> list[list[object]]:
    """Per UTC day, key, model and provider; values in `DAILY_COLUMNS` order."""
    groups: dict[tuple[date, str | None, str | None, str | None], _Sums] = {}
    for e in events:
        day = datetime.fromtimestamp(e.ts, UTC).date()
        groups.setdefault((day, e.key_id, e.model, e.provider), _Sums()).add(e)
    rows: list[list[object]] = []
    for (day, key_id, model, provider), s in groups.items():
        row_id = _row_id(day.isoformat(), key_id, model, provider)[:300]
        rows.append([row_id, day, key_id, model, provider, s.requests, s.errors])
        rows[-1] += [s.prompt_tokens, s.completion_tokens, s.cost_usd, s.latency_ms_sum]
    return rows


def hourly_rows(events: Iterable[UsageEvent]) -> list[list[object]]:
    """Per UTC hour, key, plan, model, provider and status; values in `HOURLY_COLUMNS` order."""
    groups: dict[tuple[int, str | None, str | None, str | None, str | None, int], _Sums] = {}
    for e in events:
        hour = int(e.ts // 3600) * 3600
        groups.setdefault((hour, e.key_id, e.plan, e.model, e.provider, e.status), _Sums()).add(e)
    rows: list[list[object]] = []
    for (hour, key_id, plan, model, provider, status), s in groups.items():
        row: list[object] = [_hashed_id(hour, key_id, plan, model, provider, status), hour, key_id, plan]
        row += [model, provider, status, s.requests, s.errors, s.prompt_tokens, s.completion_tokens]
        row += [s.cached_tokens, s.reasoning_tokens, s.estimated, s.cost_usd, s.latency_ms_sum]
        row += [s.ttft_ms_sum, s.ttft_count, *s.histogram]
        rows.append(row)
    return rows


def upsert_sql(table: str, columns: Sequence[str], key_count: int, row_count: int) -> str:
    """A multi-row INSERT whose conflicts add every measure to the stored row (SQLite and Postgres)."""
    one = "(" + ", ".join(["{}"] * len(columns)) + ")"
    sums = ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in columns[key_count:])
    values = ", ".join([one] * row_count)
    # Only our own table and column names go into the text; every value is a bound parameter.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values} ON CONFLICT (id) DO UPDATE SET {sums}"  # noqa: S608
