"""/ui/keys: admins manage every key; users create, rotate and revoke only their own, within their plan.

The secret appears in exactly one response: the page a create or rotate POST returns (never a
redirect target, never stored), with `Cache-Control: no-store`.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from app.catalog.services import api_keys, plans, teams, users
from app.catalog.services.api_keys import KeyDraft
from app.catalog.services.context import ServiceContext
from app.catalog.services.records import ApiKeyCreated
from app.catalog.services.validation import convert_strict
from app.errors import ConflictError, PermissionDeniedError, ValidationFailedError
from app.runtime import Runtime
from app.ui_support.forms import FormDoc, errors_of, text
from app.ui_support.key_form import GRACE_CHOICES, blank_key, key_status, parse_key_form
from app.ui_support.key_usage import key_figures, remaining_today
from app.ui_support.plan_form import LIMIT_FIELDS
from app.ui_support.render import fragment, is_htmx, page, redirect
from app.ui_support.session import Viewer

__all__ = ["KeysController"]

LIST = "/ui/keys"
PAGE_SIZE = 50


async def _scope(viewer: Viewer) -> api_keys.KeyScope:
    """Admins: every key; users: their own and those of the teams they administer."""
    return await api_keys.key_scope(viewer.user_id or "-", admin=viewer.is_admin)


async def _form_page(
    request: Request[Any, Any, Any], viewer: Viewer, doc: FormDoc, errors: dict[str, str], status: int = 200
) -> Template:
    plan = await plans.get_plan(viewer.plan) if viewer.plan else None
    choices: dict[str, Any] = {}
    if viewer.is_admin:
        choices["plans"] = [p.name for p in (await plans.list_plans(limit=500))[0]]
        choices["owners"] = [(u.id, u.username) for u in (await users.list_users(limit=500))[0]]
        choices["teams"] = [(t.id, t.name) for t in (await teams.list_teams(limit=500))[0]]
    elif viewer.user_id:  # a member makes keys in their teams (on a team's plan when it has one)
        mine = (await teams.list_teams(member=viewer.user_id, limit=500))[0]
        choices["teams"] = [(t.id, t.name + (f" (plan {t.plan})" if t.plan else "")) for t in mine]
    context = {"doc": doc, "errors": errors, "limits": LIMIT_FIELDS, "own_plan": plan, **choices}
    return page(request, "keys/new.html", status=status, **context)


async def _list_context(rt: Runtime, viewer: Viewer, filters: dict[str, str], offset: int) -> dict[str, Any]:
    revoked = {"active": False, "revoked": True}.get(filters["status"])
    scope = await _scope(viewer)
    found, total = await api_keys.list_keys(
        user_id=scope.user_id or filters["owner"] or None,
        teams=scope.teams,
        plan=filters["plan"] or None,
        revoked=revoked,
        limit=PAGE_SIZE,
        offset=offset,
    )
    ids = [k.id for k in found]
    admin = viewer.is_admin
    # one lookup for the whole page, and only when some key on it is in a team
    in_teams = (await teams.list_teams(limit=500))[0] if any(k.team_id for k in found) else []
    return {
        "keys": [(k, key_status(k)) for k in found],
        "figures": await key_figures(frozenset(ids)),
        "quotas": await remaining_today(rt.gateway.limiter, rt.catalog.snapshot, ids),
        "filters": filters,
        "total": total,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "usernames": {u.id: u.username for u in (await users.list_users(limit=500))[0]} if admin else {},
        "plan_names": sorted(rt.catalog.snapshot.plans) if admin else [],
        "team_names": {t.id: t.name for t in in_teams},
    }


def _created(request: Request[Any, Any, Any], created: ApiKeyCreated, rotated: bool) -> Template:
    base_url = str(request.base_url).rstrip("/") + "/v1"
    return page(request, "keys/created.html", key=created, rotated=rotated, base_url=base_url)


class KeysController(Controller):
    path = "/keys"

    @get("/", name="ui-keys")
    async def index(
        self,
        request: Request[Any, Any, Any],
        rt: Runtime,
        viewer: Viewer,
        plan: str | None = None,
        status: str | None = None,
        owner: str | None = None,
        offset: int = 0,
    ) -> Template:
        filters = {"plan": plan or "", "status": status or "", "owner": owner or ""}
        context = await _list_context(rt, viewer, filters, max(0, offset))
        if is_htmx(request) and request.headers.get("hx-target") == "key-table":
            return fragment(request, "keys/_table.html", **context)
        return page(request, "keys/index.html", **context)

    @get("/new", name="ui-key-new")
    async def new(self, request: Request[Any, Any, Any], viewer: Viewer) -> Template:
        return await _form_page(request, viewer, blank_key(), {})

    @post("/", name="ui-key-create")
    async def create(self, request: Request[Any, Any, Any], ctx: ServiceContext, viewer: Viewer) -> Response[Any]:
        doc, problems = parse_key_form(await request.form(), admin=viewer.is_admin)
        if problems:
            return await _form_page(request, viewer, doc, problems, 422)
        try:
            draft = convert_strict(doc, KeyDraft)
            if viewer.is_admin:
                created = await api_keys.create_key(ctx, draft)
            else:
                created = await api_keys.create_user_key(ctx, viewer.user_id or "", draft)
        except (ValidationFailedError, ConflictError, PermissionDeniedError) as exc:
            return await _form_page(request, viewer, doc, errors_of(exc), exc.status_code)
        return _created(request, created, rotated=False)

    @post("/{key_id:str}/rotate", name="ui-key-rotate")
    async def rotate(
        self, request: Request[Any, Any, Any], ctx: ServiceContext, viewer: Viewer, key_id: str
    ) -> Response[Any]:
        grace = text(await request.form(), "grace_period_s")
        seconds = int(grace) if grace in {g for g, _ in GRACE_CHOICES} else 0
        try:
            created = await api_keys.rotate_key(ctx, key_id, seconds, **(await _scope(viewer))._asdict())
        except ConflictError as exc:
            return redirect(request, LIST, ("error", exc.detail))
        return _created(request, created, rotated=True)

    @post("/{key_id:str}/rename", name="ui-key-rename")
    async def rename(
        self, request: Request[Any, Any, Any], ctx: ServiceContext, viewer: Viewer, key_id: str
    ) -> Response[Any]:
        name = text(await request.form(), "name")
        try:
            renamed = await api_keys.rename_key(ctx, key_id, name, **(await _scope(viewer))._asdict())
        except (ConflictError, ValidationFailedError) as exc:
            return redirect(request, LIST, ("error", exc.detail))
        return redirect(request, LIST, ("success", f"Key renamed to '{renamed.name}'."))

    @post("/{key_id:str}/revoke", name="ui-key-revoke")
    async def revoke(
        self, request: Request[Any, Any, Any], ctx: ServiceContext, viewer: Viewer, key_id: str
    ) -> Response[Any]:
        try:
            revoked = await api_keys.revoke_key(ctx, key_id, **(await _scope(viewer))._asdict())
        except ConflictError as exc:
            return redirect(request, LIST, ("error", exc.detail))
        return redirect(request, LIST, ("success", f"Key '{revoked.name}' revoked: it no longer authenticates."))
