"""Read side of accounting: usage aggregates, the request log and dashboard series.

Shared by `/v1/usage`, `/v1/requests` and the admin UI. Aggregates read the hourly rollup
(`usage_hourly`, indexed by hour), so a year of traffic costs a few thousand rows, never a scan
of the request log; only the last-hour series reads raw rows, through the index on `ts`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal

import msgspec

from app.accounting.feedback import Feedback, feedback_for
from app.accounting.filters import TEAM_OF_KEY_SQL, Table, UsageFilter, is_midnight, rounded, sql_where, where
from app.accounting.raw_usage import RAW_ONLY, raw_summary_rows, tags_of
from app.accounting.rollups import HISTOGRAM_COLUMNS, MEASURES, percentile
from app.accounting.series import WINDOWS, Series, SeriesPoint, series
from app.db.tables import ApiKeyRow, TeamMemberRow, UsageEventRow, UsageHourlyRow, UsagePayloadRow
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
    "request_by_id",
    "request_log",
    "series",
    "usage_summary",
    "user_key_ids",
]

GroupBy = Literal["day", "hour", "model", "provider", "key", "plan", "status", "end_user", "tag", "team"]
GROUP_BY: tuple[str, ...] = ("day", "hour", "model", "provider", "key", "plan", "status", "end_user", "tag", "team")
_HOURLY_DIMENSIONS = {
    "hour": "hour_ts",
    "day": "(hour_ts / 86400) * 86400",
    "model": "model",
    "provider": "provider",
    "key": "key_id",
    "plan": "plan",
    "status": "status",
    "team": TEAM_OF_KEY_SQL,
}
_DAILY_DIMENSIONS = {**_HOURLY_DIMENSIONS, "day": "day"}
_MEASURES = MEASURES


class UsageGroup(msgspec.Struct, kw_only=True):
    """One aggregate row; grouping fields that were not asked for are null."""

    day: str | None = None
    hour: datetime | None = None
    model: str | None = None
    provider: str | None = None
    key_id: str | None = None
    plan: str | None = None
    status: int | None = None
    end_user: str | None = None
    tag: str | None = None
    team: str | None = None
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


class RequestPayload(msgspec.Struct, kw_only=True):
    """What `POLYROUTE_PAYLOAD_LOG` kept of a request: its body as sent and the answer (a stream's text)."""

    request: str
    response: str
    truncated: bool
    """Either body was longer than `POLYROUTE_PAYLOAD_LOG_MAX_BYTES` and was cut."""


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
    end_user: str | None = None
    """The caller's own user the request was for (header, `user` or `metadata.user_id`)."""
    tags: list[str] = msgspec.field(default_factory=list)
    """The key's and the request's tags."""
    cache: str | None = None
    """What the response cache did: hit, miss or refresh; null when the request did not use it."""
    saved: dict[str, Any] | None = None
    """On a hit: the tokens, cost and target of the answer it replayed (the hit itself costs nothing)."""
    hooks: dict[str, Any] | None = None
    """Request hooks that acted: `rewritten_by` (hook names) and the `headers` they added."""
    ranked: list[str] | None = None
    """The order the route's strategy chose for the candidates (`provider/model`), when it had several."""
    explain: dict[str, Any] | None = None
    """The routing explanation sent with `x-polyroute-explain: 1` (candidates, scores, why each was used)."""
    recovered_from: dict[str, Any] | None = None
    """A stream cut mid-answer and continued on the next candidate: what broke, and where."""
    malformed_frames: int = 0
    """Malformed upstream SSE frames skipped (not fatal) while streaming this answer."""
    feedback: list[Feedback] | None = None
    """Scores given to it (`POST /v1/feedback`; `GET /v1/requests/{id}` only; null when none)."""
    payload: RequestPayload | None = None
    """The request and answer bodies, when the payload log kept them (`GET /v1/requests/{id}` only)."""
    realtime: dict[str, Any] | None = None
    """A Realtime (WebSocket) row: `session` (the session's request id) and `response` (its number) and
    `status`, or for a session that ended without a response `responses: 0`, `seconds` and `close_code`."""


class RequestPage(msgspec.Struct):
    data: list[RequestRecord]
    limit: int
    offset: int
    next_cursor: str | None
    """Pass as `cursor` for the next (older) page; null on the last page."""


# -- /v1/usage ---------------------------------------------------------------------------------


def _day(value: Any) -> str:
    """The daily rollup's `day` (a date, or ISO text from SQLite) or the hourly one's day start (Unix seconds)."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value[:10]
    return datetime.fromtimestamp(int(value), UTC).date().isoformat()


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
        latency_ms_p50=rounded(percentile(histogram, 0.5)),
        latency_ms_p95=rounded(percentile(histogram, 0.95)),
        ttft_ms_avg=round(float(n["ttft_ms_sum"]) / int(n["ttft_count"]), 2) if n["ttft_count"] else None,
    )
    for name in group_by:
        value = row[f"g_{name}"]
        if name == "day":
            out.day = _day(value)
        elif name == "hour":
            out.hour = datetime.fromtimestamp(int(value), UTC)
        elif name == "key":
            out.key_id = value
        else:
            setattr(out, name, value)
    return out


def _source(f: UsageFilter, group_by: Sequence[str]) -> tuple[str, dict[str, str], Table]:
    """The daily rollup when it can answer exactly (no hour grouping, bounds on UTC midnight), else hourly."""
    if "hour" not in group_by and is_midnight(f.start) and is_midnight(f.end):
        return "usage_daily", _DAILY_DIMENSIONS, "day"
    return "usage_hourly", _HOURLY_DIMENSIONS, "hour"


async def usage_summary(f: UsageFilter, group_by: Sequence[str] = ()) -> list[UsageGroup]:
    """Totals per group (none: one row), ordered by the grouping columns.

    Read from the daily rollup when `start`/`end` fall on UTC midnight and nothing is grouped by
    hour (a year is a few thousand rows), else from the hourly rollup (hour resolution); by end
    user or tag (grouped or filtered), from the request log (`raw_usage`).
    """
    if f.scope is not None and not f.scope:
        return []
    unknown = [g for g in group_by if g not in GROUP_BY]
    if unknown:
        raise InvalidRequestError(f"Cannot group by {', '.join(unknown)}; use {', '.join(GROUP_BY)}")
    if f.attributed or RAW_ONLY.intersection(group_by):
        return [_group(r, group_by) for r in await raw_summary_rows(f, group_by) if r["requests"]]
    table, dimensions, on = _source(f, group_by)
    dims = [f"{dimensions[g]} AS g_{g}" for g in group_by]
    sums = [f"SUM({m}) AS {m}" for m in _MEASURES]
    clauses, args = where(f, on=on)
    sql = f"SELECT {', '.join([*dims, *sums])} FROM {table}{sql_where(clauses)}"  # noqa: S608  # own names; values bound
    if group_by:
        keys = ", ".join(dimensions[g] for g in group_by)
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
        if "\x00" in row_id:  # Postgres text cannot hold NUL: a crafted cursor, not one of ours
            raise ValueError(row_id)
        return datetime.fromtimestamp(int(micros) / 1_000_000, UTC), row_id
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError, OSError):
        raise InvalidRequestError("Invalid cursor; pass back the next_cursor of a previous page") from None


def _record(row: dict[str, Any], tags: list[str]) -> RequestRecord:
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
        end_user=row["end_user"],
        tags=tags,
        cache=detail.get("cache"),
        saved=detail.get("saved"),
        hooks=detail.get("hooks"),
        ranked=detail.get("ranked"),
        explain=detail.get("explain"),
        recovered_from=detail.get("recovered_from"),
        malformed_frames=int(detail.get("malformed_frames") or 0),
        realtime=detail.get("realtime"),
    )


async def request_by_id(request_id: str, scope: frozenset[str] | None = None) -> RequestRecord | None:
    """One row of the request log; None when it does not exist or its key is outside `scope`."""
    row = await UsageEventRow.select().where(UsageEventRow.id == request_id).first().run()
    if row is None or (scope is not None and row["key_id"] not in scope):
        return None
    record = _record(row, (await tags_of([row["id"]])).get(row["id"], []))
    record.feedback = await feedback_for(request_id) or None
    kept = await UsagePayloadRow.select().where(UsagePayloadRow.event_id == request_id).first().run()
    if kept is not None:
        record.payload = RequestPayload(
            request=kept["request"], response=kept["response"], truncated=bool(kept["truncated"])
        )
    return record


async def request_log(f: UsageFilter, *, limit: int = 50, offset: int = 0, cursor: str | None = None) -> RequestPage:
    """Newest first. Page with `offset`, or (cheaper on deep pages) with the `cursor` of the previous page."""
    if f.scope is not None and not f.scope:
        return RequestPage(data=[], limit=limit, offset=offset, next_cursor=None)
    clauses, args = where(f, on="event")
    if cursor is not None:
        after_ts, after_id = decode_cursor(cursor)
        clauses.append("(ts < {} OR (ts = {} AND id < {}))")
        args += [after_ts, after_ts, after_id]
    sql = f"SELECT * FROM usage_event{sql_where(clauses)} ORDER BY ts DESC, id DESC LIMIT {{}} OFFSET {{}}"  # noqa: S608  # own names; values bound
    rows = await UsageEventRow.raw(sql, *args, limit + 1, offset).run()
    tags = await tags_of([r["id"] for r in rows[:limit]])
    records = [_record(r, tags.get(r["id"], [])) for r in rows[:limit]]
    more = len(rows) > limit
    next_cursor = _encode_cursor(records[-1].ts, records[-1].id) if more and records else None
    return RequestPage(data=records, limit=limit, offset=offset, next_cursor=next_cursor)


async def user_key_ids(user_id: str) -> frozenset[str]:
    """Every key a user owns, revoked ones included (their usage stays theirs), and every key of the teams
    they administer."""
    admin_of = TeamMemberRow.select(TeamMemberRow.team_id).where(
        (TeamMemberRow.user_id == user_id) & (TeamMemberRow.role == "admin")
    )
    teams = [r["team_id"] for r in await admin_of.run()]
    match = ApiKeyRow.user_id == user_id
    rows = await ApiKeyRow.select(ApiKeyRow.id).where(match | ApiKeyRow.team_id.is_in(teams) if teams else match).run()
    return frozenset(r["id"] for r in rows)
