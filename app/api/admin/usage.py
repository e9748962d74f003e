"""/v1/usage, /v1/usage/series and /v1/requests(/{id}): usage aggregates, dashboard series, the request log.

Admins see everything, a user token sees its own keys, and `/v1/usage(/series)` also accepts an
inference API key as Bearer, which sees only that key.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import Parameter, QueryParameter

from app.accounting import feedback, queries
from app.accounting.feedback import Feedback, FeedbackCreate, FeedbackGroup
from app.accounting.queries import GROUP_BY, RequestPage, RequestRecord, Series, UsageFilter, UsageGroup
from app.api.admin.body import MAX_ADMIN_BODY_BYTES, StrictBody, refuse_nul_in_url
from app.api.admin.schemas import Limit, Offset, problems
from app.api.auth import ManagementAuth, Principal, TokenCodec
from app.errors import InvalidRequestError, NotFoundError
from app.gateway.keys import authenticate, presented_key

if TYPE_CHECKING:
    from app.runtime import Runtime

__all__ = [
    "Reader",
    "UsageReport",
    "parse_group_by",
    "parse_status",
    "parse_time",
    "usage_csv",
    "usage_router",
]

NO_NUL = r"^[^\x00]*$"
"""Postgres text cannot hold NUL: a filter carrying one was a 500 there (found by fuzzing), now a 422."""
Text = Annotated[str | None, Parameter(max_length=200, pattern=NO_NUL)]
From = Annotated[str | None, QueryParameter(name="from", description="ISO 8601 time or date (UTC), or Unix seconds")]
To = Annotated[str | None, Parameter(description="Exclusive end; same forms as `from`")]
Status = Annotated[str | None, Parameter(description="`429`, a class such as `5xx`, `error` or `success`")]
EndUser = Annotated[
    str | None,
    Parameter(
        max_length=200,
        pattern=NO_NUL,
        description="The caller's end user (`x-polyroute-end-user`, `user`, `metadata.user_id`)",
    ),
]
Tag = Annotated[
    str | None,
    Parameter(max_length=64, pattern=NO_NUL, description="One tag (`x-polyroute-tags`, key `metadata.tags`)"),
]
TeamName = Annotated[
    str | None, Parameter(max_length=120, pattern=NO_NUL, description="A team's name: the usage of its keys")
]
GroupByParam = Annotated[
    list[str] | None,
    Parameter(
        description=f"Repeat or comma-separate: {', '.join(GROUP_BY)}",
        # A query string has no null: described as the array it is, so `?group_by=` reads as [""]
        # (no grouping) in the document too, not as a "string where an array or null was expected".
        schema_extra={"one_of": None, "type": OpenAPIType.ARRAY, "items": Schema(type=OpenAPIType.STRING)},
    ),
]


class UsageReport(msgspec.Struct):
    data: list[UsageGroup]
    group_by: list[str]
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads usage: a management principal, or one inference key (`key_id`)."""

    principal: Principal | None = None
    key_id: str | None = None

    @property
    def who(self) -> str:
        """How feedback names its giver."""
        if self.key_id is not None:
            return f"key {self.key_id}"
        assert self.principal is not None
        return self.principal.username or "admin key"

    async def scope(self) -> frozenset[str] | None:
        """The key ids visible to the reader; None for admins (all)."""
        if self.key_id is not None:
            return frozenset({self.key_id})
        assert self.principal is not None
        if self.principal.is_admin:
            return None
        return await queries.user_key_ids(self.principal.user_id or "")


def parse_time(raw: str | None, name: str) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        if raw.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(raw), UTC)
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise InvalidRequestError(f"Invalid '{name}': {raw!r} is not an ISO 8601 time or date", param=name) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_status(raw: str | None) -> tuple[int, int] | None:
    if raw is None or raw == "":
        return None
    value = raw.strip().lower()
    named = {"error": (400, 600), "errors": (400, 600), "success": (200, 400), "ok": (200, 400)}
    if value in named:
        return named[value]
    if len(value) == 3 and value[0] in "12345" and value[1:] == "xx":
        return int(value[0]) * 100, int(value[0]) * 100 + 100
    if value.isdigit() and 100 <= int(value) <= 599:
        return int(value), int(value) + 1
    raise InvalidRequestError(f"Invalid 'status': {raw!r}; use e.g. 429, 5xx, error or success", param="status")


def parse_group_by(raw: list[str] | None) -> list[str]:
    names = [part.strip() for item in raw or [] for part in item.split(",") if part.strip()]
    unknown = [n for n in names if n not in GROUP_BY]
    if unknown:
        raise InvalidRequestError(f"Cannot group by {', '.join(unknown)}; use {', '.join(GROUP_BY)}", param="group_by")
    return list(dict.fromkeys(names))


async def _filter(reader: Reader, key_id: str | None, **fields: Any) -> UsageFilter:
    scope = await reader.scope()
    if key_id is not None and scope is not None and key_id not in scope:
        raise NotFoundError(f"No API key with id '{key_id}'")
    start, end = parse_time(fields.pop("start", None), "from"), parse_time(fields.pop("end", None), "to")
    if start is not None and end is not None and start >= end:
        raise InvalidRequestError("'from' must be before 'to'", param="from")
    status = parse_status(fields.pop("status", None))
    return UsageFilter(key_id=key_id, status=status, start=start, end=end, scope=scope, **fields)


async def _usage_filter(
    reader: Reader,
    key_id: Text = None,
    plan: Text = None,
    model: Text = None,
    provider: Text = None,
    status: Status = None,
    from_: From = None,
    to: To = None,
    end_user: EndUser = None,
    tag: Tag = None,
    team: TeamName = None,
) -> UsageFilter:
    """The filter query parameters `/v1/usage` and `/v1/requests` share, read once (a dependency)."""
    fields = {"plan": plan, "model": model, "provider": provider, "status": status, "start": from_, "end": to}
    return await _filter(reader, key_id, **fields, end_user=end_user, tag=tag, team=team)


def usage_csv(report: UsageReport) -> Response[bytes]:
    measures = [f for f in UsageGroup.__struct_fields__ if f not in {"day", "hour", "key_id", *GROUP_BY}]
    columns = [{"key": "key_id"}.get(g, g) for g in report.group_by] + measures
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in report.data:
        values = [getattr(row, c) for c in columns]
        writer.writerow(["" if v is None else v.isoformat() if isinstance(v, datetime) else v for v in values])
    headers = {"content-disposition": 'attachment; filename="usage.csv"'}
    return Response(out.getvalue().encode(), media_type="text/csv; charset=utf-8", headers=headers)


def _wants_csv(request: Request[Any, Any, Any], fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "")


@get("/v1/usage", tags=["usage"], responses=problems(401, 403, 404, 422), opt={"inference_keys": True})
async def get_usage(
    request: Request[Any, Any, Any],
    usage_filter: UsageFilter,
    group_by: GroupByParam = None,
    format: Literal["json", "csv"] | None = None,
) -> UsageReport:
    """Requests, tokens, cost and latency (avg, p50, p95) per group, from the hourly rollup (hour resolution).

    By end user or tag (filtered or grouped), from the request log, within its retention.
    JSON by default; CSV with `?format=csv` or `Accept: text/csv`.
    """
    f, groups = usage_filter, parse_group_by(group_by)
    report = UsageReport(data=await queries.usage_summary(f, groups), group_by=groups, start=f.start, end=f.end)
    return usage_csv(report) if _wants_csv(request, format) else report  # type: ignore[return-value]  # Litestar sends a Response as is


@get("/v1/usage/series", tags=["usage"], responses=problems(401, 403, 404, 422), opt={"inference_keys": True})
async def get_series(
    reader: Reader,
    window: Literal["hour", "day", "week", "month"] = "day",
    by: Literal["model", "provider"] | None = None,
    key_id: Text = None,
    plan: Text = None,
    model: Text = None,
    provider: Text = None,
    end_user: EndUser = None,
    tag: Tag = None,
    team: TeamName = None,
) -> Series:
    """Dashboard series over the last window: requests, tokens, cost, error rate, p50/p95 latency per bucket."""
    fields = {"plan": plan, "model": model, "provider": provider, "end_user": end_user, "tag": tag, "team": team}
    f = await _filter(reader, key_id, **fields)
    return await queries.series(window, by, f=f)


@get("/v1/requests", tags=["usage"], responses=problems(401, 403, 404, 422))
async def get_requests(
    usage_filter: UsageFilter,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: Annotated[str | None, Parameter(max_length=400)] = None,
) -> RequestPage:
    """The request log, newest first, each request with its attempts; page by offset or by `next_cursor`."""
    return await queries.request_log(usage_filter, limit=limit, offset=offset, cursor=cursor)


@get("/v1/requests/{request_id:str}", tags=["usage"], responses=problems(401, 403, 404, 422))
async def get_request(
    reader: Reader, request_id: Annotated[str, Parameter(max_length=200, pattern=NO_NUL)]
) -> RequestRecord:
    """One request of the log with everything kept of it: attempts, routing explanation, recovery, cache."""
    found = await queries.request_by_id(request_id, await reader.scope())
    if found is None:
        raise NotFoundError(f"No request '{request_id}' in the log (it may not be written yet, or not be yours)")
    return found


class FeedbackReport(msgspec.Struct):
    data: list[FeedbackGroup]
    group_by: list[str]


@post(
    "/v1/feedback",
    tags=["usage"],
    status_code=201,
    responses=problems(400, 401, 403, 404, 413, 422),
    opt={"inference_keys": True},
    dto=StrictBody,
    return_dto=None,
    request_max_body_size=MAX_ADMIN_BODY_BYTES,
)
async def post_feedback(reader: Reader, data: FeedbackCreate) -> Feedback:
    """Score one request of the log (the `x-request-id` of its response): `value` -10 to 10, a `weight`
    (0 to 1) and `metadata`. An inference key scores its own requests; a user their keys' and their
    teams' as their admin; the admin key any. The request must be in the log (it is written within a
    second of the answer)."""
    if await queries.request_by_id(data.request_id, await reader.scope()) is None:
        raise NotFoundError(f"No request '{data.request_id}' in the log (it may not be written yet, or not be yours)")
    return await feedback.give(data, reader.who)


@get("/v1/feedback", tags=["usage"], responses=problems(400, 401, 403, 404, 422), opt={"inference_keys": True})
async def get_feedback(
    usage_filter: UsageFilter,
    group_by: Annotated[list[Literal["model", "provider", "route", "key"]] | None, Parameter()] = None,
) -> FeedbackReport:
    """The scores given to the requests the filters pick (the request log's filters), grouped: how many,
    their weighted average, and the share that was positive."""
    groups: list[str] = list(dict.fromkeys(group_by or []))
    return FeedbackReport(data=await feedback.summary(usage_filter, groups), group_by=groups)


def _reader(request: Request[Any, Any, Any]) -> Reader:
    reader: Reader = request.state.usage_reader
    return reader


def usage_router(rt: Runtime, tokens: TokenCodec) -> Router:
    """The usage routes with their own guard: inference keys are welcome on /v1/usage(/series) only."""
    auth = ManagementAuth(rt.settings.admin_key, tokens, rt.catalog)

    async def readers(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        secret = presented_key(connection.headers)
        is_key = secret is not None and hashlib.sha256(secret.encode()).hexdigest() in rt.catalog.snapshot.keys
        if is_key and handler.opt.get("inference_keys"):
            key = authenticate(connection.headers, rt.catalog.snapshot)
            connection.state.usage_reader = Reader(key_id=key.id)
            return
        connection.state.usage_reader = Reader(principal=await auth.principal(connection.headers))

    return Router(
        "/",
        route_handlers=[get_usage, get_series, get_requests, get_request, post_feedback, get_feedback],
        guards=[readers, refuse_nul_in_url],
        dependencies={"reader": Provide(_reader, sync_to_thread=False), "usage_filter": Provide(_usage_filter)},
    )
