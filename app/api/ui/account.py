"""/ui/account: a user's start page: their plan, today's remaining requests per key, this month's usage."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.response import Redirect

from app.accounting import queries
from app.accounting.queries import Series, UsageFilter
from app.catalog.services import api_keys
from app.errors import GatewayError
from app.runtime import Runtime
from app.ui_support.charts import WIDE, Chart, line_chart
from app.ui_support.key_usage import month_start, remaining_today
from app.ui_support.plan_form import LIMIT_FIELDS
from app.ui_support.playground import playground_key, playground_key_id
from app.ui_support.render import page
from app.ui_support.session import Viewer
from app.ui_support.templating import compact
from app.ui_support.usage_view import viewer_scope

__all__ = ["AccountController"]


def _week_chart(week: Series) -> Chart:
    requests = {"requests": [float(p.requests) for p in week.points]}
    times = [p.ts for p in week.points]
    return line_chart("Requests, last 7 days", times, requests, compact, area=True, width=WIDE)


async def _overview(rt: Runtime, viewer: Viewer) -> dict[str, Any]:
    snapshot = rt.catalog.snapshot
    keys, _ = await api_keys.list_keys(user_id=viewer.user_id or "-", revoked=False, limit=500)
    try:
        extra = [playground_key(viewer, snapshot)]
    except GatewayError:
        extra = []
    ids = [k.id for k in keys] + [playground_key_id(viewer)]
    scope = await viewer_scope(viewer)
    month = await queries.usage_summary(UsageFilter(start=month_start(), scope=scope))
    return {
        "plan": snapshot.plans.get(viewer.plan or ""),
        "limits": LIMIT_FIELDS,
        "quotas": await remaining_today(rt.gateway.limiter, snapshot, ids, extra),
        "names": {k.id: k.name for k in keys} | {playground_key_id(viewer): "Playground"},
        "key_count": len(keys),
        "month": month[0] if month else None,
        "chart": _week_chart(await queries.series("week", None, f=UsageFilter(scope=scope))),
    }


class AccountController(Controller):
    path = "/account"

    @get("/", name="ui-account")
    async def index(self, request: Request[Any, Any, Any], rt: Runtime, viewer: Viewer) -> Response[Any]:
        if viewer.is_admin:
            return Redirect(path="/ui/dashboard", status_code=303)
        context = await _overview(rt, viewer)
        return page(request, "account/index.html", **context)
