"""Rollups: usage events folded into per-hour and per-day rows that are upserted additively.

Both rollups share one shape: the dimensions (key, plan, model, provider, status) and the
measures, latency histogram included (bounds in `LATENCY_BUCKETS_MS`), so dashboards get p50/p95
from a few rows instead of a scan of the request log, and a year of daily rows is tiny.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.accounting.events import UsageEvent
from app.db.tables import LATENCY_BUCKETS_MS

__all__ = [
    "DAILY_COLUMNS",
    "DIMENSIONS",
    "HISTOGRAM_COLUMNS",
    "HOURLY_COLUMNS",
    "KEY_COLUMNS",
    "MAX_PARAMS",
    "MEASURES",
    "bucket_index",
    "daily_rows",
    "hourly_rows",
    "percentile",
    "rollup_id",
    "statement_chunks",
    "upsert_order",
    "upsert_sql",
]

HISTOGRAM_COLUMNS = tuple(f"lat_{i}" for i in range(len(LATENCY_BUCKETS_MS) + 1))
DIMENSIONS = ("key_id", "plan", "model", "provider", "status")
MEASURES = (
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
"""Summed on conflict."""
HOURLY_COLUMNS = ("id", "hour_ts", *DIMENSIONS, *MEASURES)
DAILY_COLUMNS = ("id", "day", *DIMENSIONS, *MEASURES)
KEY_COLUMNS = 2 + len(DIMENSIONS)
"""The leading columns of both shapes that identify a row."""


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

    def values(self) -> list[object]:
        head = [self.requests, self.errors, self.prompt_tokens, self.completion_tokens, self.cached_tokens]
        tail = [self.reasoning_tokens, self.estimated, self.cost_usd, self.latency_ms_sum, self.ttft_ms_sum]
        return [*head, *tail, self.ttft_count, *self.histogram]


def rollup_id(bucket: object, *dimensions: object) -> str:
    """16 characters (96 bits) instead of the joined dimensions, which are columns of their own:
    the id is stored twice (row and primary-key index) and would otherwise be most of the row."""
    joined = "|".join("" if p is None else str(p) for p in (bucket, *dimensions))
    return base64.urlsafe_b64encode(hashlib.blake2b(joined.encode(), digest_size=12).digest()).decode()


def _rows(events: Iterable[UsageEvent], bucket_of: Callable[[float], object]) -> list[list[object]]:
    groups: dict[tuple[object, ...], _Sums] = {}
    for e in events:
        key = (bucket_of(e.ts), e.key_id, e.plan, e.model, e.provider, e.status)
        groups.setdefault(key, _Sums()).add(e)
    return [[rollup_id(*key), *key, *sums.values()] for key, sums in groups.items()]


def hourly_rows(events: Iterable[UsageEvent]) -> list[list[object]]:
    """Per UTC hour (Unix seconds), key, plan, model, provider and status; values in `HOURLY_COLUMNS` order."""
    return _rows(events, lambda ts: int(ts // 3600) * 3600)


def daily_rows(events: Iterable[UsageEvent]) -> list[list[object]]:
    """Per UTC day (a date), key, plan, model, provider and status; values in `DAILY_COLUMNS` order."""
    return _rows(events, lambda ts: datetime.fromtimestamp(ts, UTC).date())


MAX_PARAMS = 30_000
"""Bound parameters per statement: under SQLite's 32,766 (the default since 3.32), fine for Postgres."""


def statement_chunks(rows: list[list[object]], width: int) -> Iterator[list[list[object]]]:
    """`rows` of `width` values each, in slices that fit one multi-row statement."""
    per_statement = max(1, MAX_PARAMS // width)
    for start in range(0, len(rows), per_statement):
        yield rows[start : start + per_statement]


def upsert_order(rows: list[list[object]]) -> list[list[object]]:
    """Rollup rows in one global order, by id: every writer (other workers and replicas too) then
    locks them in the same order, where two flushes in different orders would deadlock on Postgres."""
    return sorted(rows, key=lambda row: str(row[0]))


def upsert_sql(table: str, columns: Sequence[str], row_count: int, placeholder: str = "{}") -> str:
    """A multi-row INSERT whose conflicts add every measure to the stored row (SQLite and Postgres).

    `placeholder` is piccolo's `{}` by default, `?` for a stdlib sqlite3 connection."""
    one = "(" + ", ".join([placeholder] * len(columns)) + ")"
    sums = ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in columns[KEY_COLUMNS:])
    values = ", ".join([one] * row_count)
    # Only our own table and column names go into the text; every value is a bound parameter.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values} ON CONFLICT (id) DO UPDATE SET {sums}"  # noqa: S608
