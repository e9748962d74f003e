"""/ui/prompts: prompt templates, their versions, which one is published, and what one renders to.

Saving a prompt's form adds a version; none is ever edited in place, so `prompt/<name>@N` keeps
answering as it did. The "Try it" box renders a version with the service's own `render`: nothing
is sent upstream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from app.catalog.services import prompts
from app.catalog.services.context import ServiceContext
from app.catalog.services.records import Prompt, PromptVersion
from app.errors import ConflictError, NotFoundError, ValidationFailedError
from app.runtime import Runtime
from app.ui_support.editing import save_or_redisplay
from app.ui_support.forms import FormDoc, errors_of, text
from app.ui_support.prompt_form import (
    PARAM_NAMES,
    ROLES,
    blank_prompt,
    needed,
    parse_prompt_form,
    prompt_doc,
    routable_models,
    to_template,
)
from app.ui_support.render import fragment, is_htmx, page, redirect

__all__ = ["PromptsController"]

LIST = "/ui/prompts"


def _url(name: str) -> str:
    return f"{LIST}/{name}"


@dataclass(frozen=True, slots=True)
class TryIt:
    """The render box: one version's slots, what was typed, and the rendered request or the errors."""

    version: PromptVersion
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    rendered: str | None = None


async def _extras(
    request: Request[Any, Any, Any], record: Prompt, base: PromptVersion | None = None, tried: TryIt | None = None
) -> dict[str, Any]:
    """What the whole prompt page shows around the form: none of it when htmx swaps the form alone."""
    if is_htmx(request):
        return {}
    base = base or record.current
    # newest first; one read per version: a prompt has a handful, and the page is for admins only
    history = await prompts.list_versions(record.id)
    return {"base": base, "history": history, "tried": tried or TryIt(base)}


def _form(
    request: Request[Any, Any, Any],
    rt: Runtime,
    doc: FormDoc,
    errors: dict[str, str],
    editing: Prompt | None,
    status: int = 200,
    extras: dict[str, Any] | None = None,
) -> Template:
    """The form alone for htmx; otherwise the whole page (with `_extras` for an existing prompt)."""
    context: dict[str, Any] = {
        "doc": doc,
        "errors": errors,
        "editing": editing,
        "roles": ROLES,
        "models": routable_models(rt.catalog.snapshot),
        "param_names": PARAM_NAMES,
    }
    if is_htmx(request):
        return fragment(request, "prompts/_form.html", status=status, **context)
    return page(request, "prompts/edit.html", status=status, **context, **(extras or {}))


async def _chosen(record: Prompt, version: int | None) -> PromptVersion:
    """The version asked for (404 when there is none), the published one by default."""
    if version is None or version == record.published:
        return record.current
    return await prompts.get_version(record.id, version)


def _version_field(form: Any) -> int | None:
    raw = text(form, "version")
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


class PromptsController(Controller):
    path = "/prompts"

    @get("/", name="ui-prompts")
    async def index(self, request: Request[Any, Any, Any]) -> Template:
        found, _ = await prompts.list_prompts(limit=500)
        needs = {p.name: needed(p.current) for p in found}
        return page(request, "prompts/index.html", prompts=found, needs=needs)

    @get("/new", name="ui-prompt-new")
    async def new(self, request: Request[Any, Any, Any], rt: Runtime) -> Template:
        return _form(request, rt, blank_prompt(), {}, None)

    @post("/", name="ui-prompt-create")
    async def create(self, request: Request[Any, Any, Any], rt: Runtime, ctx: ServiceContext) -> Response[Any]:
        shown, doc, problems = parse_prompt_form(await request.form())
        name = shown["name"]

        async def save() -> Prompt:
            template = to_template(doc, name)
            try:
                return await prompts.create_prompt(ctx, name, template)
            except ConflictError:  # the service's wording names the API's PUT; here the way is the prompt's page
                raise ConflictError(f"A prompt named '{name}' already exists: open it to add a version.") from None

        return await save_or_redisplay(
            request,
            problems,
            save,
            lambda errors, status: _form(request, rt, shown, errors, None, status),
            lambda saved: (_url(saved.name), f"Prompt '{saved.name}' created: call it as model prompt/{saved.name}."),
        )

    @get("/{name:str}", name="ui-prompt")
    async def show(
        self, request: Request[Any, Any, Any], rt: Runtime, name: str, version: int | None = None
    ) -> Template:
        """The prompt; `?version=N` loads that version into the form, to be the base of the next one."""
        record = await prompts.get_prompt(name)
        base = await _chosen(record, version)
        return _form(request, rt, prompt_doc(base), {}, record, extras=await _extras(request, record, base))

    @post("/{name:str}", name="ui-prompt-update")
    async def update(
        self, request: Request[Any, Any, Any], rt: Runtime, ctx: ServiceContext, name: str
    ) -> Response[Any]:
        """A new version from the form: published now unless the box is unticked."""
        record = await prompts.get_prompt(name)
        shown, doc, problems = parse_prompt_form(await request.form())
        extras = await _extras(request, record)  # nothing to read when htmx swaps the form alone

        async def save() -> Prompt:
            return await prompts.add_version(ctx, record.id, to_template(doc), publish=shown["publish"])

        return await save_or_redisplay(
            request,
            problems,
            save,
            lambda errors, status: _form(request, rt, shown, errors, record, status, extras),
            lambda saved: (_url(saved.name), _version_saved(saved)),
        )

    @post("/{name:str}/publish", name="ui-prompt-publish")
    async def publish(self, request: Request[Any, Any, Any], ctx: ServiceContext, name: str) -> Response[Any]:
        """Serve another version as `prompt/<name>`: roll back or forward."""
        record = await prompts.get_prompt(name)
        version = _version_field(await request.form())
        if version is None:
            return redirect(request, _url(record.name), ("error", "Choose a version to publish."))
        try:
            saved = await prompts.publish(ctx, record.id, version)
        except NotFoundError as exc:
            return redirect(request, _url(record.name), ("error", exc.detail))
        message = f"Version {version} of '{saved.name}' is published: prompt/{saved.name} serves it now."
        return redirect(request, _url(saved.name), ("success", message))

    @post("/{name:str}/render", name="ui-prompt-render")
    async def render(self, request: Request[Any, Any, Any], rt: Runtime, name: str) -> Template:
        """The Chat Completions request the version becomes with these variables; nothing is sent upstream."""
        record = await prompts.get_prompt(name)
        form = await request.form()
        version = _version_field(form)
        base = await _chosen(record, version)
        values = {slot: text(form, f"variables.{slot}") for slot in base.variables}
        try:
            # a blank input is left out, so the slot's default (if any) fills it, as for a caller
            rendered = await prompts.render(record.id, base.version, {k: v for k, v in values.items() if v})
        except ValidationFailedError as exc:
            tried, status = TryIt(base, values, errors_of(exc)), 422
        else:
            tried, status = TryIt(base, values, rendered=json.dumps(rendered, indent=2, ensure_ascii=False)), 200
        if is_htmx(request):
            return fragment(request, "prompts/_try.html", status=status, tried=tried, editing=record)
        extras = await _extras(request, record, base, tried)
        return _form(request, rt, prompt_doc(base), {}, record, status, extras)

    @post("/{name:str}/delete", name="ui-prompt-delete")
    async def delete(self, request: Request[Any, Any, Any], ctx: ServiceContext, name: str) -> Response[Any]:
        await prompts.delete_prompt(ctx, name)
        return redirect(request, LIST, ("success", f"Prompt '{name}' deleted: callers naming prompt/{name} get 400."))


def _version_saved(saved: Prompt) -> str:
    if saved.published == saved.latest:
        return f"Version {saved.latest} of '{saved.name}' saved and published."
    return (
        f"Version {saved.latest} of '{saved.name}' saved; version {saved.published} is still published "
        f"(prompt/{saved.name}@{saved.latest} reaches the new one)."
    )
