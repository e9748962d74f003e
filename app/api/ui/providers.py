"""/ui/providers: list with health, create/edit/delete with inline validation, test connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from app.catalog.services import providers
from app.catalog.services.context import ServiceContext
from app.catalog.services.records import Provider
from app.catalog.services.validation import convert_strict
from app.catalog.specs import PROVIDER_KINDS, ProviderSpec
from app.errors import ConflictError, NotFoundError
from app.runtime import Runtime
from app.ui_support.editing import save_or_redisplay
from app.ui_support.forms import FormDoc, text
from app.ui_support.health_view import provider_health
from app.ui_support.probe import probe_provider
from app.ui_support.provider_form import (
    MODEL_FLAGS,
    blank_model,
    blank_provider,
    parse_provider_form,
    provider_doc,
    spec_fields,
)
from app.ui_support.render import fragment, is_htmx, page, redirect

__all__ = ["ProvidersController"]

LIST = "/ui/providers"


def _form(
    request: Request[Any, Any, Any], doc: FormDoc, errors: dict[str, str], editing: Provider | None, status: int = 200
) -> Template:
    context: dict[str, Any] = {
        "doc": doc,
        "errors": errors,
        "editing": editing,
        "kinds": PROVIDER_KINDS,
        "flags": MODEL_FLAGS,
        "blank_model": blank_model(),
    }
    if is_htmx(request):
        return fragment(request, "providers/_form.html", status=status, **context)
    return page(request, "providers/edit.html", status=status, **context)


async def _submit(
    request: Request[Any, Any, Any],
    doc: FormDoc,
    problems: dict[str, str],
    save: Callable[[], Awaitable[Provider]],
    editing: Provider | None,
) -> Response[Any]:
    verb = "updated" if editing else "created"
    return await save_or_redisplay(
        request,
        problems,
        save,
        lambda errors, status: _form(request, doc, errors, editing, status),
        lambda saved: (LIST, f"Provider '{saved.name}' {verb}."),
    )


class ProvidersController(Controller):
    path = "/providers"

    @get("/", name="ui-providers")
    async def index(self, request: Request[Any, Any, Any], rt: Runtime) -> Template:
        found, _ = await providers.list_providers(limit=500)
        health = rt.gateway.health
        rows = [(p, provider_health(health, p.name, [m.id for m in p.models])) for p in found]
        return page(request, "providers/index.html", rows=rows)

    @get("/new", name="ui-provider-new")
    async def new(self, request: Request[Any, Any, Any]) -> Template:
        return _form(request, blank_provider(), {}, None)

    @post("/", name="ui-provider-create")
    async def create(self, request: Request[Any, Any, Any], ctx: ServiceContext) -> Response[Any]:
        form = await request.form()
        doc, problems = parse_provider_form(form, None, None)

        async def save() -> Provider:
            spec = convert_strict({**spec_fields(doc), "api_key": text(form, "api_key") or None}, ProviderSpec)
            return await providers.create_provider(ctx, spec)

        return await _submit(request, doc, problems, save, None)

    @get("/{name:str}/edit", name="ui-provider-edit")
    async def edit(self, request: Request[Any, Any, Any], name: str) -> Template:
        record = await providers.get_provider(name)
        return _form(request, provider_doc(record), {}, record)

    @post("/{name:str}", name="ui-provider-update")
    async def update(
        self, request: Request[Any, Any, Any], ctx: ServiceContext, rt: Runtime, name: str
    ) -> Response[Any]:
        record = await providers.get_provider(name)
        form = await request.form()
        doc, problems = parse_provider_form(form, record, rt.catalog.snapshot.providers.get(record.name))
        patch = spec_fields(doc)
        if form.get("remove_api_key") == "on":
            patch["api_key"] = None
        elif secret := text(form, "api_key"):
            patch["api_key"] = secret
        return await _submit(request, doc, problems, lambda: providers.update_provider(ctx, name, patch), record)

    @post("/{name:str}/delete", name="ui-provider-delete")
    async def delete(self, request: Request[Any, Any, Any], ctx: ServiceContext, name: str) -> Response[Any]:
        try:
            await providers.delete_provider(ctx, name, force=(await request.form()).get("force") == "on")
        except ConflictError as exc:
            return redirect(request, LIST, ("error", exc.detail))
        return redirect(request, LIST, ("success", f"Provider '{name}' deleted."))

    @post("/{name:str}/test", name="ui-provider-test")
    async def test(self, request: Request[Any, Any, Any], rt: Runtime, name: str) -> Template:
        entry = rt.catalog.snapshot.providers.get(name)
        if entry is None:
            raise NotFoundError(f"No provider named '{name}'")
        result = await probe_provider(entry, rt.gateway.pool)
        return fragment(request, "providers/_probe.html", name=name, result=result)

    @get("/{name:str}/health", name="ui-provider-health")
    async def health(self, request: Request[Any, Any, Any], rt: Runtime, name: str) -> Template:
        entry = rt.catalog.snapshot.providers.get(name)
        models = list(entry.models) if entry else []
        badge = provider_health(rt.gateway.health, name, models)
        return fragment(request, "providers/_health_badge.html", name=name, badge=badge)
