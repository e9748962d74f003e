"""/ui/requests: the request log (newest first, cursor paging) and one request's attempts and timings."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from app.accounting import queries
from app.runtime import Runtime
from app.ui_support.render import fragment, is_htmx, page
from app.ui_support.session import Viewer
from app.ui_support.usage_view import STATUS_CHOICES, key_names, request_by_id, usage_filter, usage_query, viewer_scope

__all__ = ["RequestsController"]

PAGE_SIZE = 50


class RequestsController(Controller):
    path = "/requests"

    @get("/", name="ui-requests")
    async def index(
        self, request: Request[Any, Any, Any], rt: Runtime, viewer: Viewer, cursor: str | None = None
    ) -> Template:
        q = usage_query(request.query_params, [], default_days=None)
        f = await usage_filter(q, await viewer_scope(viewer))
        snapshot = rt.catalog.snapshot
        context: dict[str, Any] = {
            "q": q,
            "log": await queries.request_log(f, limit=PAGE_SIZE, cursor=cursor or None),
            "first_page": not cursor,
            "status_choices": STATUS_CHOICES,
            "keys": await key_names(viewer),
            "providers": sorted(snapshot.providers),
            "models": sorted({m for p in snapshot.providers.values() for m in p.models}),
        }
        if is_htmx(request) and request.headers.get("hx-target") == "request-log":
            return fragment(request, "requests/_log.html", **context)
        return page(request, "requests/index.html", **context)

    @get("/{request_id:str}", name="ui-request")
    async def detail(self, request: Request[Any, Any, Any], viewer: Viewer, request_id: str) -> Template:
        record = await request_by_id(request_id, await viewer_scope(viewer))
        names = await key_names(viewer)
        return page(request, "requests/detail.html", r=record, key_name=names.get(record.key_id or "", record.key_id))
