"""Read side of accounting: usage aggregates, the request log and dashboard series.

Shared by `/v1/usage`, `/v1/requests` and the admin UI. Aggregates read the hourly rollup
(`usage_hourly`, indexed by hour), so a year of traffic costs a few thousand rows, never a scan
of the request log; only the last-hour series reads raw rows, through the index on `ts`.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from piccolo.engine.postgres import PostgresEngine

from app.accounting.rollups import HISTOGRAM_COLUMNS, percentile
from app.db.tables import LATENCY_BUCKETS_MS, ApiKeyRow, UsageEventRow, UsageHourlyRow
from app.errors import InvalidRequestError

__all__ = [
    "GROUP_BY",
    "WINDOWS",
    "RequestPage",
    "RequestRecord",
    "Series",
    "SeriesPoint",
    "UsageFilter",
    "UsageGroup",
    "decode_cursor",
    "request_log",
    "series",
    "usage_summary",
    "user_key_ids",
]

GroupBy = Literal["day", "hour", "model", "provider", "key", "plan", "status"]
GROUP_BY: tuple[str, ...] = ("day", "hour", "model", "provider", "key", "plan", "status")
Window = Literal["hour", "day", "week", "month"]
WINDOWS: dict[str, tuple[int, int]] = {
    "hour": (3600, 300),
    "day": (86400, 3600),
    "week": (7 * 86400, 6 * 3600),
    "month": (30 * 86400, 86400),
}
"""Window -> (its length, the bucket size), in seconds."""

_HOURLY_DIMENSIONS = {
    "hour": "hour_ts",
    "day": "(hour_ts / 86400) * 86400",
    "model": "model",
    "provider": "provider",
    "key": "key_id",
    "plan": "plan",
    "status": "status",
}
_MEASURES = (
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


@dataclass(frozen=True, slots=True)
class UsageFilter:
    """What to count. `scope` is the set of key ids the caller may see (None: every key)."""

    key_id: str | None = None
    plan: str | None = None
    model: str | None = None
    """The upstream model id as the provider config names it (`gpt-4.1-mini`)."""
    provider: str | None = None
    status: tuple[int, int] | None = None
    """Half-open range: (429, 430) for one status, (400, 600) for every error."""
    start: datetime | None = None
    end: datetime | None = None
    scope: frozenset[str] | None = None


class UsageGroup(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One aggregate row; the grouping fields that were asked for are set."""

    day: str | None = None
    hour: datetime | None = None
    model: str | None = None
    provider: str | None = None
    key_id: str | None = None
    plan: str | None = None
    status: int | None = None
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    estimated_requests: int = 0
    """Requests whose tokens we counted because the upstream reported none."""
    cost_usd: float = 0.0
    latency_ms_avg: float | None = None
    latency_ms_p50: float | None = None
    latency_ms_p95: float | None = None
    ttft_ms_avg: float | None = None


class RequestRecord(msgspec.Struct, kw_only=True):
    """One row of the request log, with the attempts the pipeline made."""

    id: str
    ts: datetime
    key_id: str | None
    user_id: str | None
    plan: str | None
    endpoint: str
    requested_model: str | None
    route: str | None
    provider: str | None
    model: str | None
    status: int
    error_code: str | None
    stream: bool
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    estimated: bool
    cost_usd: float
    latency_ms: float
    ttft_ms: float | None
    attempt_count: int
    attempts: list[dict[str, Any]]
    error: str | None
    trace_id: str | None


class RequestPage(msgspec.Struct):
    data: list[RequestRecord]
    limit: int
    offset: int
    next_cursor: str | None
    """Pass as `cursor` for the next (older) page; null on the last page."""


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


# -- filters -----------------------------------------------------------------------------------


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _where(f: UsageFilter, *, hourly: bool) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (("key_id", f.key_id), ("plan", f.plan), ("model", f.model), ("provider", f.provider)):
        if value is not None:
            clauses.append(f"{column} = {{}}")
            args.append(value)
    if f.status is not None:
        clauses.append("status >= {} AND status < {}")
        args += list(f.status)
    if f.scope is not None:
        clauses.append("key_id IN (" + ", ".join(["{}"] * len(f.scope)) + ")")
        args += sorted(f.scope)
    if hourly:
        if f.start is not None:
            clauses.append("hour_ts >= {}")
            args.append(_epoch(f.start) // 3600 * 3600)
        if f.end is not None:
            clauses.append("hour_ts < {}")
            args.append(_epoch(f.end))
    else:
        if f.start is not None:
            clauses.append("ts >= {}")
            args.append(f.start)
        if f.end is not None:
            clauses.append("ts < {}")
            args.append(f.end)
    return clauses, args


def _sql_where(clauses: list[str]) -> str:
    return (" WHERE " + " AND ".join(clauses)) if clauses else ""


# -- /v1/usage ---------------------------------------------------------------------------------


def _group(row: dict[str, Any], group_by: Sequence[str]) -> UsageGroup:
    n = {m: row[m] or 0 for m in _MEASURES}
    requests = int(n["requests"])
    histogram = [float(n[c]) for c in HISTOGRAM_COLUMNS]
    out = UsageGroup(
        requests=requests,
        errors=int(n["errors"]),
        prompt_tokens=int(n["prompt_tokens"]),
        completion_tokens=int(n["completion_tokens"]),
        total_tokens=int(n["prompt_tokens"]) + int(n["completion_tokens"]),
        cached_tokens=int(n["cached_tokens"]),
        reasoning_tokens=int(n["reasoning_tokens"]),
        estimated_requests=int(n["estimated"]),
        cost_usd=round(float(n["cost_usd"]), 10),
        latency_ms_avg=round(float(n["latency_ms_sum"]) / requests, 2) if requests else None,
        latency_ms_p50=_rounded(percentile(histogram, 0.5)),
        latency_ms_p95=_rounded(percentile(histogram, 0.95)),
        ttft_ms_avg=round(float(n["ttft_ms_sum"]) / int(n["ttft_count"]), 2) if n["ttft_count"] else None,
    )
    for name in group_by:
        value = row[f"g_{name}"]
        if name == "day":
            out.day = datetime.fromtimestamp(int(value), UTC).date().isoformat()
        elif name == "hour":
            out.hour = datetime.fromtimestamp(int(value), UTC)
        elif name == "key":
            out.key_id = value
        else:
            setattr(out, name, value)
    return out


def _rounded(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


async def usage_summary(f: UsageFilter, group_by: Sequence[str] = ()) -> list[UsageGroup]:
    """Totals per group (none: one row), ordered by the grouping columns; hour resolution on `start`/`end`."""
    if f.scope is not None and not f.scope:
        return []
    unknown = [g for g in group_by if g not in _HOURLY_DIMENSIONS]
    if unknown:
        raise InvalidRequestError(f"Cannot group by {', '.join(unknown)}; use {', '.join(GROUP_BY)}")
    dims = [f"{_HOURLY_DIMENSIONS[g]} AS g_{g}" for g in group_by]
    sums = [f"SUM({m}) AS {m}" for m in _MEASURES]
    clauses, args = _where(f, hourly=True)
    sql = f"SELECT {', '.join([*dims, *sums])} FROM usage_hourly{_sql_where(clauses)}"  # noqa: S608  # own names; values bound
    if group_by:
        keys = ", ".join(_HOURLY_DIMENSIONS[g] for g in group_by)
        sql += f" GROUP BY {keys} ORDER BY {keys}"
    rows = await UsageHourlyRow.raw(sql, *args).run()
    return [_group(r, group_by) for r in rows if r["requests"]]


# -- /v1/requests ------------------------------------------------------------------------------


def _encode_cursor(ts: datetime, row_id: str) -> str:
    micros = int(ts.timestamp() * 1_000_000)
    return base64.urlsafe_b64encode(f"{micros}|{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (ts, id) a cursor points after; 400 when it was not made by `request_log`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, row_id = raw.split("|", 1)
        return datetime.fromtimestamp(int(micros) / 1_000_000, UTC), row_id
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError, OSError):
        raise InvalidRequestError("Invalid cursor; pass back the next_cursor of a previous page") from None


def _record(row: dict[str, Any]) -> RequestRecord:
    detail = row["detail"]
    if isinstance(detail, str):
        detail = msgspec.json.decode(detail)
    detail = detail if isinstance(detail, dict) else {}
    ts = row["ts"]
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts)
    return RequestRecord(
        id=row["id"],
        ts=ts.astimezone(UTC),
        key_id=row["key_id"],
        user_id=row["user_id"],
        plan=row["plan"],
        endpoint=row["endpoint"],
        requested_model=row["requested_model"],
        route=row["route"],
        provider=row["provider"],
        model=row["model"],
        status=row["status"],
        error_code=row["error_code"],
        stream=bool(row["stream"]),
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        cached_tokens=row["cached_tokens"],
        reasoning_tokens=row["reasoning_tokens"],
        estimated=bool(row["estimated"]),
        cost_usd=row["cost_usd"],
        latency_ms=row["latency_ms"],
        ttft_ms=row["ttft_ms"],
        attempt_count=row["attempts"],
        attempts=list(detail.get("attempts") or []),
        error=detail.get("error"),
        trace_id=row["trace_id"],
    )


async def request_log(f: UsageFilter, *, limit: int = 50, offset: int = 0, cursor: str | None = None) -> RequestPage:
    """Newest first. Page with `offset`, or (cheaper on deep pages) with the `cursor` of the previous page."""
    if f.scope is not None and not f.scope:
        return RequestPage(data=[], limit=limit, offset=offset, next_cursor=None)
    clauses, args = _where(f, hourly=False)
    if cursor is not None:
        after_ts, after_id = decode_cursor(cursor)
        clauses.append("(ts < {} OR (ts = {} AND id < {}))")
        args += [after_ts, after_ts, after_id]
    sql = f"SELECT * FROM usage_event{_sql_where(clauses)} ORDER BY ts DESC, id DESC LIMIT {{}} OFFSET {{}}"  # noqa: S608  # own names; values bound
    rows = await UsageEventRow.raw(sql, *args, limit + 1, offset).run()
    records = [_record(r) for r in rows[:limit]]
    more = len(rows) > limit
    next_cursor = _encode_cursor(records[-1].ts, records[-1].id) if more and records else None
    return RequestPage(data=records, limit=limit, offset=offset, next_cursor=next_cursor)


# -- dashboard series --------------------------------------------------------------------------


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


def _epoch_sql() -> str:
    if isinstance(UsageEventRow._meta.db, PostgresEngine):
        return "CAST(EXTRACT(EPOCH FROM ts) AS BIGINT)"
    return "CAST(strftime('%s', ts) AS INTEGER)"


def _latency_bucket_sql() -> str:
    steps = " ".join(f"WHEN latency_ms <= {bound} THEN {i}" for i, bound in enumerate(LATENCY_BUCKETS_MS))
    return f"CASE {steps} ELSE {len(LATENCY_BUCKETS_MS)} END"


async def _raw_buckets(f: UsageFilter, bucket_s: int, column: str | None) -> list[tuple[int, Any, _Bucket]]:
    """From the request log (the last hour): histogram bins counted in SQL, folded here."""
    clauses, args = _where(f, hourly=False)
    group = column or "NULL"
    sql = (  # only our column names and integers go into the text; values are bound parameters
        f"SELECT b, g, l, COUNT(*) AS requests, SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors,"  # noqa: S608
        " SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens,"
        " SUM(cost_usd) AS cost_usd"
        f" FROM (SELECT ({_epoch_sql()} / {bucket_s}) * {bucket_s} AS b, {group} AS g, {_latency_bucket_sql()} AS l,"
        f" status, prompt_tokens, completion_tokens, cost_usd FROM usage_event{_sql_where(clauses)}) AS t"
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
    clauses, args = _where(f, hourly=True)
    group = column or "NULL"
    measures = ("requests", "errors", "prompt_tokens", "completion_tokens", "cost_usd", *HISTOGRAM_COLUMNS)
    sums = ", ".join(f"SUM({m}) AS {m}" for m in measures)
    expr = f"(hour_ts / {bucket_s}) * {bucket_s}"
    sql = (  # only our column names and integers go into the text; values are bound parameters
        f"SELECT {expr} AS b, {group} AS g, {sums} FROM usage_hourly{_sql_where(clauses)}"  # noqa: S608
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
        latency_ms_p50=_rounded(percentile(histogram, 0.5)),
        latency_ms_p95=_rounded(percentile(histogram, 0.95)),
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
    month: daily buckets, all from the hourly rollup. `f` narrows it (its start/end are ignored).
    """
    if window not in WINDOWS:
        raise InvalidRequestError(f"Unknown window '{window}'; use {', '.join(WINDOWS)}")
    length, bucket_s = WINDOWS[window]
    moment = int(time.time() if now is None else now)
    end = (moment // bucket_s + 1) * bucket_s
    start = end - length
    base = f or UsageFilter()
    scoped = UsageFilter(
        key_id=base.key_id,
        plan=base.plan,
        model=base.model,
        provider=base.provider,
        status=base.status,
        scope=base.scope,
        start=datetime.fromtimestamp(start, UTC),
        end=datetime.fromtimestamp(end, UTC),
    )
    found: list[tuple[int, Any, _Bucket]] = []
    if scoped.scope is None or scoped.scope:
        fetch = _raw_buckets if window == "hour" else _rollup_buckets
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


async def user_key_ids(user_id: str) -> frozenset[str]:
    """Every key a user owns, revoked ones included (their usage stays theirs)."""
    rows = await ApiKeyRow.select(ApiKeyRow.id).where(ApiKeyRow.user_id == user_id).run()
    return frozenset(r["id"] for r in rows)
