"""/ui/dashboard: traffic, tokens, cost, errors and latency over time, by model and provider; live health."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from litestar import Controller, Request, get
from litestar.params import Parameter
from litestar.response import Template

from app.runtime import Runtime
from app.ui_support.dashboard_view import DASHBOARD_WINDOWS, build_dashboard
from app.ui_support.health_view import provider_health, target_rows
from app.ui_support.render import fragment, is_htmx, page

__all__ = ["DashboardController"]


def _health(rt: Runtime) -> dict[str, Any]:
    snapshot, health = rt.catalog.snapshot, rt.gateway.health
    providers = [
        (p, provider_health(health, p.name, p.models))
        for p in sorted(snapshot.providers.values(), key=lambda p: p.name)
    ]
    return {"providers": providers, "targets": target_rows(health)}


class DashboardController(Controller):
    path = "/dashboard"

    @get("/", name="ui-dashboard")
    async def index(
        self,
        request: Request[Any, Any, Any],
        rt: Runtime,
        window: Literal["hour", "day", "week"] = "day",
        end_user: Annotated[str | None, Parameter(max_length=200)] = None,
        tag: Annotated[str | None, Parameter(max_length=64)] = None,
    ) -> Template:
        end_user, tag = (end_user or "").strip() or None, (tag or "").strip() or None
        board = await build_dashboard(window, None, end_user=end_user, tag=tag)
        narrowed = {k: v for k, v in (("end_user", end_user), ("tag", tag)) if v}
        links = {w: "/ui/dashboard?" + urlencode({"window": w, **narrowed}) for w in DASHBOARD_WINDOWS}
        context = {
            "board": board,
            "windows": DASHBOARD_WINDOWS,
            "window_links": links,
            "narrowed": narrowed,
            **_health(rt),
        }
        if is_htmx(request) and request.headers.get("hx-target") == "dashboard-panel":
            return fragment(request, "dashboard/_panel.html", **context)
        return page(request, "dashboard/index.html", **context)

    @get("/health", name="ui-dashboard-health")
    async def health(self, request: Request[Any, Any, Any], rt: Runtime) -> Template:
        return fragment(request, "dashboard/_health.html", **_health(rt))
