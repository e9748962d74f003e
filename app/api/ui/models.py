"""/ui/models: every routable model with its providers, window, prices, capabilities and health."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from app.errors import GatewayError
from app.runtime import Runtime
from app.ui_support.model_catalog import CAPABILITIES, CatalogFilter, catalog_rows
from app.ui_support.playground import playground_key
from app.ui_support.render import fragment, is_htmx, page
from app.ui_support.session import Viewer

__all__ = ["ModelsController"]


class ModelsController(Controller):
    path = "/models"

    @get("/", name="ui-models")
    async def index(
        self,
        request: Request[Any, Any, Any],
        rt: Runtime,
        viewer: Viewer,
        q: str = "",
        provider: str = "",
        capability: str = "",
        kind: str = "",
    ) -> Template:
        """Admins see everything; a user sees what their plan allows."""
        snapshot = rt.catalog.snapshot
        try:
            key = None if viewer.is_admin else playground_key(viewer, snapshot)
        except GatewayError:
            key = None
            snapshot = type(snapshot).empty()
        f = CatalogFilter(q=q.strip()[:100], provider=provider, capability=capability, kind=kind)
        context: dict[str, Any] = {
            "rows": catalog_rows(snapshot, rt.gateway.health, key, f),
            "filters": f,
            "providers": sorted(snapshot.providers),
            "capabilities": CAPABILITIES,
        }
        if is_htmx(request) and request.headers.get("hx-target") == "model-rows":
            return fragment(request, "models/_rows.html", **context)
        return page(request, "models/index.html", **context)
