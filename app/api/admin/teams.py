"""/v1/teams: admins manage teams; team admins manage their members; members see their teams."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post, put

from app.api.admin.schemas import (
    Limit,
    Offset,
    Ref,
    Team,
    TeamCreate,
    TeamMemberSet,
    TeamPage,
    TeamUpdate,
    problems,
    set_fields,
)
from app.api.auth import Principal
from app.catalog.services import teams
from app.catalog.services.context import ServiceContext
from app.errors import NotFoundError, PermissionDeniedError

__all__ = ["TeamController"]


def _admin_only(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDeniedError("Only an admin can change a team's settings")


async def _visible(principal: Principal, ref: str, *, manage: bool = False) -> Team:
    """The team, when the caller may see it (`manage`: change its members): admins any, users their own
    (a team they are not in is a 404, as if it did not exist)."""
    team = await teams.get_team(ref)
    if principal.is_admin:
        return team
    role = next((m.role for m in team.members if m.user_id == principal.user_id), None)
    if role is None:
        raise NotFoundError(f"No team with id or name '{ref}'")
    if manage and role != "admin":
        raise PermissionDeniedError(f"Only an admin of team '{team.name}' can change its members")
    return team


class TeamController(Controller):
    path = "/v1/teams"
    tags = ["teams"]

    @get("/", responses=problems(400, 401, 403, 422))
    async def list_teams(self, principal: Principal, limit: Limit = 50, offset: Offset = 0) -> TeamPage:
        """Every team for an admin; a user's own teams for a user token."""
        member = None if principal.is_admin else principal.user_id
        found, total = await teams.list_teams(member=member, limit=limit, offset=offset)
        return TeamPage(data=found, total=total, limit=limit, offset=offset)

    @post("/", responses=problems(400, 401, 403, 409, 413, 422))
    async def create_team(self, ctx: ServiceContext, principal: Principal, data: TeamCreate) -> Team:
        _admin_only(principal)
        return await teams.create_team(ctx, data)

    @get("/{ref:str}", responses=problems(401, 403, 404))
    async def get_team(self, principal: Principal, ref: Ref) -> Team:
        return await _visible(principal, ref)

    @put("/{ref:str}", responses=problems(400, 401, 403, 404, 409, 413, 422))
    async def replace_team(self, ctx: ServiceContext, principal: Principal, ref: Ref, data: TeamCreate) -> Team:
        _admin_only(principal)
        return await teams.replace_team(ctx, ref, data)

    @patch("/{ref:str}", responses=problems(400, 401, 403, 404, 409, 413, 422))
    async def update_team(self, ctx: ServiceContext, principal: Principal, ref: Ref, data: TeamUpdate) -> Team:
        _admin_only(principal)
        return await teams.update_team(ctx, ref, set_fields(data))

    @delete("/{ref:str}", responses=problems(400, 401, 403, 404, 409, 422))
    async def delete_team(self, ctx: ServiceContext, principal: Principal, ref: Ref, force: bool = False) -> None:
        """Delete; 409 while it has active keys unless `force`, which revokes them."""
        _admin_only(principal)
        await teams.delete_team(ctx, ref, force=force)

    @put("/{ref:str}/members/{user:str}", responses=problems(400, 401, 403, 404, 413, 422))
    async def set_member(
        self, ctx: ServiceContext, principal: Principal, ref: Ref, user: str, data: TeamMemberSet | None = None
    ) -> Team:
        """Add a user (id or username) to the team, or change their role (`member` unless said)."""
        team = await _visible(principal, ref, manage=True)
        return await teams.set_member(ctx, team.id, user, data.role if data is not None else "member")

    @delete("/{ref:str}/members/{user:str}", status_code=200, responses=problems(401, 403, 404))
    async def remove_member(self, ctx: ServiceContext, principal: Principal, ref: Ref, user: str) -> Team:
        """Take a user out of the team; the keys they made in it are revoked."""
        team = await _visible(principal, ref, manage=True)
        return await teams.remove_member(ctx, team.id, user)
