"""/ui/usage: the /v1/usage filters and groupings as a page, with a CSV download of the same report."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.response import Template

from app.accounting import queries
from app.accounting.queries import GROUP_BY
from app.api.admin.usage import UsageReport, usage_csv
from app.runtime import Runtime
from app.ui_support.render import fragment, is_htmx, page
from app.ui_support.session import Viewer
from app.ui_support.usage_view import STATUS_CHOICES, key_names, usage_filter, usage_query, viewer_scope

__all__ = ["UsageController"]


class UsageController(Controller):
    path = "/usage"

    @get("/", name="ui-usage")
    async def index(self, request: Request[Any, Any, Any], rt: Runtime, viewer: Viewer) -> Template:
        q = usage_query(request.query_params, list(request.query_params.multi_items()))
        f = await usage_filter(q, await viewer_scope(viewer))
        snapshot = rt.catalog.snapshot
        context: dict[str, Any] = {
            "q": q,
            "rows": await queries.usage_summary(f, q.group_by),
            "total": next(iter(await queries.usage_summary(f)), None),
            "group_choices": GROUP_BY,
            "status_choices": STATUS_CHOICES,
            "keys": await key_names(viewer),
            "plans": sorted(snapshot.plans) if viewer.is_admin else [],
            "providers": sorted(snapshot.providers),
            "models": sorted({m for p in snapshot.providers.values() for m in p.models}),
        }
        if is_htmx(request) and request.headers.get("hx-target") == "usage-results":
            return fragment(request, "usage/_results.html", **context)
        return page(request, "usage/index.html", **context)

    @get("/export.csv", name="ui-usage-csv")
    async def export(self, request: Request[Any, Any, Any], viewer: Viewer) -> Response[bytes]:
        q = usage_query(request.query_params, list(request.query_params.multi_items()))
        f = await usage_filter(q, await viewer_scope(viewer))
        report = UsageReport(
            data=await queries.usage_summary(f, q.group_by), group_by=q.group_by, start=f.start, end=f.end
        )
        return usage_csv(report)
