"""/ui/routes: targets, priorities, weights, strategy and parameters, with a live order preview.

Route names contain '/', so the name is the last path segment after an action word
(`/ui/routes/edit/route/fast`) rather than before it.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

import strategies
from app.catalog.services import routes
from app.catalog.services.context import ServiceContext
from app.catalog.services.records import Route
from app.catalog.services.validation import convert_strict
from app.catalog.specs import RouteSpec
from app.errors import ConflictError
from app.runtime import Runtime
from app.ui_support.editing import save_or_redisplay
from app.ui_support.forms import FormDoc, text
from app.ui_support.render import fragment, is_htmx, page, redirect
from app.ui_support.route_form import blank_route, parse_route_form, preview_order, route_doc

__all__ = ["RoutesController"]

LIST = "/ui/routes"


def _form(
    request: Request[Any, Any, Any],
    rt: Runtime,
    doc: FormDoc,
    errors: dict[str, str],
    editing: Route | None,
    status: int = 200,
) -> Template:
    snapshot = rt.catalog.snapshot
    context: dict[str, Any] = {
        "doc": doc,
        "errors": errors,
        "editing": editing,
        "strategies": strategies.available(),
        "providers": sorted(snapshot.providers),
        "models": sorted({m for p in snapshot.providers.values() for m in p.models}),
        "plans": sorted(snapshot.plans),
        "preview": preview_order(doc, snapshot, rt.gateway.health, None),
    }
    if is_htmx(request):
        return fragment(request, "routes/_form.html", status=status, **context)
    return page(request, "routes/edit.html", status=status, **context)


class RoutesController(Controller):
    path = "/routes"

    @get("/", name="ui-routes")
    async def index(self, request: Request[Any, Any, Any], rt: Runtime) -> Template:
        found, _ = await routes.list_routes(limit=500)
        snapshot, health = rt.catalog.snapshot, rt.gateway.health
        previews = {r.name: preview_order(route_doc(r), snapshot, health, None) for r in found}
        return page(request, "routes/index.html", routes=found, previews=previews)

    @get("/new", name="ui-route-new")
    async def new(self, request: Request[Any, Any, Any], rt: Runtime) -> Template:
        return _form(request, rt, blank_route(), {}, None)

    @post("/", name="ui-route-create")
    async def create(self, request: Request[Any, Any, Any], rt: Runtime, ctx: ServiceContext) -> Response[Any]:
        doc, problems = parse_route_form(await request.form(), None)

        async def save() -> Route:
            return await routes.create_route(ctx, convert_strict(doc, RouteSpec))

        return await save_or_redisplay(
            request,
            problems,
            save,
            lambda errors, status: _form(request, rt, doc, errors, None, status),
            lambda saved: (LIST, f"Route '{saved.name}' created."),
        )

    @get("/edit/{name:path}", name="ui-route-edit")
    async def edit(self, request: Request[Any, Any, Any], rt: Runtime, name: str) -> Template:
        record = await routes.get_route(name.lstrip("/"))
        return _form(request, rt, route_doc(record), {}, record)

    @post("/save/{name:path}", name="ui-route-update")
    async def update(
        self, request: Request[Any, Any, Any], rt: Runtime, ctx: ServiceContext, name: str
    ) -> Response[Any]:
        record = await routes.get_route(name.lstrip("/"))
        doc, problems = parse_route_form(await request.form(), record)
        return await save_or_redisplay(
            request,
            problems,
            lambda: routes.update_route(ctx, record.name, doc),
            lambda errors, status: _form(request, rt, doc, errors, record, status),
            lambda saved: (LIST, f"Route '{saved.name}' updated."),
        )

    @post("/delete/{name:path}", name="ui-route-delete")
    async def delete(self, request: Request[Any, Any, Any], ctx: ServiceContext, name: str) -> Response[Any]:
        try:
            await routes.delete_route(ctx, name.lstrip("/"))
        except ConflictError as exc:
            return redirect(request, LIST, ("error", exc.detail))
        return redirect(request, LIST, ("success", f"Route '{name.lstrip('/')}' deleted."))

    @post("/_preview", name="ui-route-preview")
    async def preview(self, request: Request[Any, Any, Any], rt: Runtime) -> Template:
        form = await request.form()
        doc, problems = parse_route_form(form, None)
        plan = text(form, "preview_plan") or None
        result = preview_order(doc, rt.catalog.snapshot, rt.gateway.health, plan)
        return fragment(request, "routes/_preview.html", preview=result, problems=problems)
