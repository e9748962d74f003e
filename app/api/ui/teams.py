"""/ui/teams: groups of users and keys sharing models and limits, and who is in each.

A config-file team's settings are read-only here (the file is re-applied at every start), but its
members are not part of the file, so they are managed here like any team's.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from app.catalog.services import teams, users
from app.catalog.services.context import ServiceContext
from app.catalog.services.records import Team
from app.catalog.services.validation import convert_strict
from app.catalog.specs import TeamSpec
from app.errors import ConflictError, NotFoundError
from app.gateway.snapshot import CatalogSnapshot
from app.runtime import Runtime
from app.ui_support.editing import save_or_redisplay
from app.ui_support.forms import FormDoc, text
from app.ui_support.plan_form import LIMIT_FIELDS
from app.ui_support.render import fragment, is_htmx, page, redirect
from app.ui_support.team_form import (
    ROLE_CHOICES,
    blank_member,
    blank_team,
    parse_member_form,
    parse_team_form,
    team_doc,
)

__all__ = ["TeamsController"]

LIST = "/ui/teams"


def _edit_url(team: Team) -> str:
    return f"{LIST}/{team.name}/edit"


def _key_counts(snapshot: CatalogSnapshot) -> Counter[str]:
    """Active keys per team id, from the in-memory catalog (which holds exactly the unrevoked keys):
    no query per row. A rotating key sits there under two hashes, hence the set of ids."""
    records = {r.id: r.team.id for r in snapshot.keys.values() if r.team is not None}
    return Counter(records.values())


def _form(
    request: Request[Any, Any, Any],
    rt: Runtime,
    doc: FormDoc,
    errors: dict[str, str],
    editing: Team | None,
    status: int = 200,
    **members: Any,
) -> Template:
    """The settings form alone for htmx; otherwise the whole page, with the members section when editing."""
    context: dict[str, Any] = {
        "doc": doc,
        "errors": errors,
        "editing": editing,
        "limits": LIMIT_FIELDS,
        "plans": sorted(rt.catalog.snapshot.plans),
    }
    if is_htmx(request):
        return fragment(request, "teams/_form.html", status=status, **context)
    members.setdefault("member", blank_member())
    members.setdefault("member_errors", {})
    members.setdefault("candidates", [])  # suggestions only: a settings error need not look users up
    return page(request, "teams/edit.html", status=status, roles=ROLE_CHOICES, **context, **members)


async def _candidates(team: Team) -> list[str]:
    """Usernames to suggest in the add-member field: everyone not in the team yet."""
    inside = {m.user_id for m in team.members}
    return [u.username for u in (await users.list_users(limit=500))[0] if u.id not in inside]


def _delete_refused(name: str, exc: ConflictError) -> str:
    keys = exc.extra.get("api_keys")
    if not keys:
        return exc.detail  # e.g. a config-file team
    # the service's wording names the API's ?force=true; here the same choice is the row's check box
    return f"Team '{name}' still has {keys} active API keys: tick 'revoke its keys' to delete it with them."


class TeamsController(Controller):
    path = "/teams"

    @get("/", name="ui-teams")
    async def index(self, request: Request[Any, Any, Any], rt: Runtime) -> Template:
        found, _ = await teams.list_teams(limit=500)
        keys = _key_counts(rt.catalog.snapshot)
        return page(request, "teams/index.html", teams=found, keys=keys, limits=LIMIT_FIELDS)

    @get("/new", name="ui-team-new")
    async def new(self, request: Request[Any, Any, Any], rt: Runtime) -> Template:
        return _form(request, rt, blank_team(), {}, None)

    @post("/", name="ui-team-create")
    async def create(self, request: Request[Any, Any, Any], rt: Runtime, ctx: ServiceContext) -> Response[Any]:
        doc, problems = parse_team_form(await request.form())

        async def save() -> Team:
            return await teams.create_team(ctx, convert_strict(doc, TeamSpec))

        return await save_or_redisplay(
            request,
            problems,
            save,
            lambda errors, status: _form(request, rt, doc, errors, None, status),
            # straight to its page: a new team has no members yet, and that is where they are added
            lambda saved: (_edit_url(saved), f"Team '{saved.name}' created. Add its members below."),
        )

    @get("/{name:str}/edit", name="ui-team-edit")
    async def edit(self, request: Request[Any, Any, Any], rt: Runtime, name: str) -> Template:
        record = await teams.get_team(name)
        return _form(request, rt, team_doc(record), {}, record, candidates=await _candidates(record))

    @post("/{name:str}", name="ui-team-update")
    async def update(
        self, request: Request[Any, Any, Any], rt: Runtime, ctx: ServiceContext, name: str
    ) -> Response[Any]:
        record = await teams.get_team(name)
        doc, problems = parse_team_form(await request.form())
        return await save_or_redisplay(
            request,
            problems,
            lambda: teams.update_team(ctx, record.id, doc),
            lambda errors, status: _form(request, rt, doc, errors, record, status),
            lambda saved: (LIST, f"Team '{saved.name}' updated."),
        )

    @post("/{name:str}/delete", name="ui-team-delete")
    async def delete(self, request: Request[Any, Any, Any], ctx: ServiceContext, name: str) -> Response[Any]:
        force = text(await request.form(), "force") == "on"
        try:
            await teams.delete_team(ctx, name, force=force)
        except ConflictError as exc:
            return redirect(request, LIST, ("error", _delete_refused(name, exc)))
        return redirect(request, LIST, ("success", f"Team '{name}' deleted."))

    @post("/{name:str}/members", name="ui-team-member-set")
    async def set_member(
        self, request: Request[Any, Any, Any], rt: Runtime, ctx: ServiceContext, name: str
    ) -> Response[Any]:
        """Add a member, or change a member's role (the rows post here with the user's id)."""
        record = await teams.get_team(name)
        doc, role, problems = parse_member_form(await request.form())
        if role is not None and not problems:
            try:
                saved = await teams.set_member(ctx, record.id, doc["user"], role)
            except NotFoundError as exc:  # the team was found above, so it is the user that is unknown
                problems = {"user": exc.detail}
            else:
                return redirect(request, _edit_url(saved), ("success", _member_saved(record, saved, doc["user"])))
        return _form(
            request,
            rt,
            team_doc(record),
            {},
            record,
            422,
            member=doc,
            member_errors=problems,
            candidates=await _candidates(record),
        )

    @post("/{name:str}/members/remove", name="ui-team-member-remove")
    async def remove_member(self, request: Request[Any, Any, Any], ctx: ServiceContext, name: str) -> Response[Any]:
        record = await teams.get_team(name)
        user = text(await request.form(), "user")
        try:
            await teams.remove_member(ctx, record.id, user)
        except NotFoundError as exc:
            return redirect(request, _edit_url(record), ("error", exc.detail))
        who = next((m.username for m in record.members if user in (m.user_id, m.username)), user)
        message = f"{who} removed from team '{record.name}'; the API keys they made in it are revoked."
        return redirect(request, _edit_url(record), ("success", message))


def _member_saved(before: Team, after: Team, user: str) -> str:
    was = {m.user_id: m.role for m in before.members}
    member = next((m for m in after.members if user in (m.user_id, m.username)), None)
    if member is None:  # not reachable: the service found the user by this same id or name
        return f"Team '{after.name}' updated."
    if member.user_id in was:
        return f"{member.username} is now {member.role} of team '{after.name}'."
    return f"{member.username} added to team '{after.name}' as {member.role}."
