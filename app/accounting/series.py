"""Dashboard series: requests, tokens, cost, error rate and p50/p95 latency per bucket over a recent window.

The last hour comes from the request log (5-minute buckets, through the index on `ts`, latency
bins counted in SQL); longer windows come from the hourly rollup and its latency histogram.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from app.accounting.filters import LATENCY_BUCKET_SQL, UsageFilter, epoch_sql, rounded, sql_where, where
from app.accounting.rollups import HISTOGRAM_COLUMNS, percentile
from app.db.tables import UsageEventRow, UsageHourlyRow
from app.errors import InvalidRequestError

__all__ = ["WINDOWS", "Series", "SeriesPoint", "Window", "series"]

Window = Literal["hour", "day", "week", "month"]
WINDOWS: dict[str, tuple[int, int]] = {
    "hour": (3600, 300),
    "day": (86400, 3600),
    "week": (7 * 86400, 6 * 3600),
    "month": (30 * 86400, 86400),
}
"""Window -> (its length, the bucket size), in seconds."""


class SeriesPoint(msgspec.Struct, kw_only=True):
    ts: datetime
    """Start of the bucket."""
    group: str | None
    """The model or provider (null when not broken down, or for requests that never reached one)."""
    requests: int
    errors: int
    error_rate: float
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float
    latency_ms_p50: float | None
    latency_ms_p95: float | None


class Series(msgspec.Struct, kw_only=True):
    window: str
    bucket_s: int
    start: datetime
    end: datetime
    by: str | None
    points: list[SeriesPoint]
    """Every bucket of every group, oldest first, zero-filled."""


@dataclass(slots=True)
class _Bucket:
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    histogram: list[float] | None = None

    def merge(self, other: _Bucket) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost_usd += other.cost_usd
        self._bins(other.histogram or [])

    def _bins(self, histogram: Sequence[float]) -> None:
        if self.histogram is None:
            self.histogram = [0.0] * len(HISTOGRAM_COLUMNS)
        for index, count in enumerate(histogram):
            self.histogram[index] += count

    def add(self, row: dict[str, Any], histogram: Sequence[float]) -> None:
        self.requests += int(row["requests"] or 0)
        self.errors += int(row["errors"] or 0)
        self.prompt_tokens += int(row["prompt_tokens"] or 0)
        self.completion_tokens += int(row["completion_tokens"] or 0)
        self.cost_usd += float(row["cost_usd"] or 0)
        self._bins(histogram)


async def _raw_buckets(f: UsageFilter, bucket_s: int, column: str | None) -> list[tuple[int, Any, _Bucket]]:
    """From the request log (the last hour): histogram bins counted in SQL, folded here."""
    clauses, args = where(f, on="event")
    group = column or "NULL"
    sql = (  # only our column names and integers go into the text; values are bound parameters
        f"SELECT b, g, l, COUNT(*) AS requests, SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors,"  # noqa: S608
        " SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens,"
        " SUM(cost_usd) AS cost_usd"
        f" FROM (SELECT ({epoch_sql()} / {bucket_s}) * {bucket_s} AS b, {group} AS g, {LATENCY_BUCKET_SQL} AS l,"
        f" status, prompt_tokens, completion_tokens, cost_usd FROM usage_event{sql_where(clauses)}) AS t"
        " GROUP BY b, g, l"
    )
    out = []
    for row in await UsageEventRow.raw(sql, *args).run():
        bucket = _Bucket()
        histogram = [0.0] * len(HISTOGRAM_COLUMNS)
        histogram[int(row["l"])] = float(row["requests"])
        bucket.add(row, histogram)
        out.append((int(row["b"]), row["g"], bucket))
    return out


async def _rollup_buckets(f: UsageFilter, bucket_s: int, column: str | None) -> list[tuple[int, Any, _Bucket]]:
    clauses, args = where(f, on="hour")
    group = column or "NULL"
    measures = ("requests", "errors", "prompt_tokens", "completion_tokens", "cost_usd", *HISTOGRAM_COLUMNS)
    sums = ", ".join(f"SUM({m}) AS {m}" for m in measures)
    expr = f"(hour_ts / {bucket_s}) * {bucket_s}"
    sql = (  # only our column names and integers go into the text; values are bound parameters
        f"SELECT {expr} AS b, {group} AS g, {sums} FROM usage_hourly{sql_where(clauses)}"  # noqa: S608
        f" GROUP BY {expr}{', ' + column if column else ''}"
    )
    out = []
    for row in await UsageHourlyRow.raw(sql, *args).run():
        bucket = _Bucket()
        bucket.add(row, [float(row[c] or 0) for c in HISTOGRAM_COLUMNS])
        out.append((int(row["b"]), row["g"], bucket))
    return out


def _point(ts: int, group: str | None, b: _Bucket) -> SeriesPoint:
    histogram = b.histogram or []
    return SeriesPoint(
        ts=datetime.fromtimestamp(ts, UTC),
        group=group,
        requests=b.requests,
        errors=b.errors,
        error_rate=round(b.errors / b.requests, 4) if b.requests else 0.0,
        prompt_tokens=b.prompt_tokens,
        completion_tokens=b.completion_tokens,
        total_tokens=b.prompt_tokens + b.completion_tokens,
        cost_usd=round(b.cost_usd, 10),
        latency_ms_p50=rounded(percentile(histogram, 0.5)),
        latency_ms_p95=rounded(percentile(histogram, 0.95)),
    )


async def series(
    window: Window = "day",
    by: Literal["model", "provider"] | None = None,
    *,
    f: UsageFilter | None = None,
    now: float | None = None,
) -> Series:
    """Requests, tokens, cost, error rate and p50/p95 latency per bucket over the last window.

    hour: 5-minute buckets from the request log (index on ts); day: hourly, week: 6-hourly,
    month: daily buckets, all from the hourly rollup, or from the request log when `f` names an
    end user or a tag. `f` narrows it (its start/end are ignored).
    """
    if window not in WINDOWS:
        raise InvalidRequestError(f"Unknown window '{window}'; use {', '.join(WINDOWS)}")
    length, bucket_s = WINDOWS[window]
    moment = int(time.time() if now is None else now)
    end = (moment // bucket_s + 1) * bucket_s
    start = end - length
    base = f or UsageFilter()
    scoped = dataclasses.replace(base, start=datetime.fromtimestamp(start, UTC), end=datetime.fromtimestamp(end, UTC))
    found: list[tuple[int, Any, _Bucket]] = []
    if scoped.scope is None or scoped.scope:
        # The rollups keep no end users or tags: a series by them reads the request log (its retention).
        fetch = _raw_buckets if window == "hour" or scoped.attributed else _rollup_buckets
        found = await fetch(scoped, bucket_s, by)
    merged: dict[tuple[int, Any], _Bucket] = {}
    for ts, group, bucket in found:
        merged.setdefault((ts, group), _Bucket()).merge(bucket)
    groups = sorted({g for _, g in merged}, key=lambda g: (g is None, g or "")) or [None]
    points = [
        _point(ts, group, merged.get((ts, group), _Bucket())) for group in groups for ts in range(start, end, bucket_s)
    ]
    return Series(
        window=window,
        bucket_s=bucket_s,
        start=datetime.fromtimestamp(start, UTC),
        end=datetime.fromtimestamp(end, UTC),
        by=by,
        points=points,
    )
