"""/ui/plans: limits and allowed models per tier, with a live list of the models the patterns allow."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from app.catalog.services import plans
from app.catalog.services.context import ServiceContext
from app.catalog.services.records import Plan
from app.catalog.services.validation import convert_strict
from app.catalog.specs import PlanSpec
from app.errors import ConflictError
from app.runtime import Runtime
from app.ui_support.editing import save_or_redisplay
from app.ui_support.forms import FormDoc, lines, text
from app.ui_support.plan_form import LIMIT_FIELDS, allowed_names, blank_plan, parse_plan_form, plan_doc
from app.ui_support.render import fragment, is_htmx, page, redirect

__all__ = ["PlansController"]

LIST = "/ui/plans"


def _form(
    request: Request[Any, Any, Any],
    rt: Runtime,
    doc: FormDoc,
    errors: dict[str, str],
    editing: Plan | None,
    status: int = 200,
) -> Template:
    matches = allowed_names(doc["models"], rt.catalog.snapshot)
    context: dict[str, Any] = {
        "doc": doc,
        "errors": errors,
        "editing": editing,
        "limits": LIMIT_FIELDS,
        "matches": matches,
    }
    if is_htmx(request):
        return fragment(request, "plans/_form.html", status=status, **context)
    return page(request, "plans/edit.html", status=status, **context)


class PlansController(Controller):
    path = "/plans"

    @get("/", name="ui-plans")
    async def index(self, request: Request[Any, Any, Any]) -> Template:
        found, _ = await plans.list_plans(limit=500)
        return page(request, "plans/index.html", plans=found, limits=LIMIT_FIELDS)

    @get("/new", name="ui-plan-new")
    async def new(self, request: Request[Any, Any, Any], rt: Runtime) -> Template:
        return _form(request, rt, blank_plan(), {}, None)

    @post("/", name="ui-plan-create")
    async def create(self, request: Request[Any, Any, Any], rt: Runtime, ctx: ServiceContext) -> Response[Any]:
        doc, problems = parse_plan_form(await request.form())

        async def save() -> Plan:
            return await plans.create_plan(ctx, convert_strict(doc, PlanSpec))

        return await save_or_redisplay(
            request,
            problems,
            save,
            lambda errors, status: _form(request, rt, doc, errors, None, status),
            lambda saved: (LIST, f"Plan '{saved.name}' created."),
        )

    @get("/{name:str}/edit", name="ui-plan-edit")
    async def edit(self, request: Request[Any, Any, Any], rt: Runtime, name: str) -> Template:
        record = await plans.get_plan(name)
        return _form(request, rt, plan_doc(record), {}, record)

    @post("/{name:str}", name="ui-plan-update")
    async def update(
        self, request: Request[Any, Any, Any], rt: Runtime, ctx: ServiceContext, name: str
    ) -> Response[Any]:
        record = await plans.get_plan(name)
        doc, problems = parse_plan_form(await request.form())
        return await save_or_redisplay(
            request,
            problems,
            lambda: plans.update_plan(ctx, record.name, doc),
            lambda errors, status: _form(request, rt, doc, errors, record, status),
            lambda saved: (LIST, f"Plan '{saved.name}' updated."),
        )

    @post("/{name:str}/delete", name="ui-plan-delete")
    async def delete(self, request: Request[Any, Any, Any], ctx: ServiceContext, name: str) -> Response[Any]:
        try:
            await plans.delete_plan(ctx, name)
        except ConflictError as exc:
            return redirect(request, LIST, ("error", exc.detail))
        return redirect(request, LIST, ("success", f"Plan '{name}' deleted."))

    @post("/_matches", name="ui-plan-matches")
    async def matches(self, request: Request[Any, Any, Any], rt: Runtime) -> Template:
        patterns = lines(text(await request.form(), "models"))
        return fragment(request, "plans/_matches.html", matches=allowed_names(patterns, rt.catalog.snapshot))
