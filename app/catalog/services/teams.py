"""Teams: groups of users and keys sharing models and limits; their members and what members may do."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal

import msgspec
from piccolo.columns import Column
from piccolo.custom_types import Combinable

from app.catalog.apply import team_values
from app.catalog.audit import Change
from app.catalog.keys import new_id
from app.catalog.services.context import ServiceContext, ensure_api_owned, find_row, writing
from app.catalog.services.records import Team, TeamMember
from app.catalog.services.validation import FieldProblems, convert_strict
from app.catalog.specs import TeamSpec
from app.catalog.store import now, team_from_row
from app.db.paging import list_rows
from app.db.tables import ApiKeyRow, PlanRow, TeamMemberRow, TeamRow, UserRow
from app.errors import ConflictError, NotFoundError

__all__ = [
    "Role",
    "create_team",
    "delete_team",
    "get_team",
    "list_teams",
    "remove_member",
    "replace_team",
    "roles_of",
    "set_member",
    "update_team",
]

Role = Literal["admin", "member"]


async def _members(team_ids: list[str]) -> dict[str, list[TeamMember]]:
    if not team_ids:
        return {}
    rows = await TeamMemberRow.select().where(TeamMemberRow.team_id.is_in(team_ids)).run()
    names = {}
    if rows:
        users = (
            await UserRow.select(UserRow.id, UserRow.username)
            .where(UserRow.id.is_in([r["user_id"] for r in rows]))
            .run()
        )
        names = {u["id"]: u["username"] for u in users}
    found: dict[str, list[TeamMember]] = {}
    for row in sorted(rows, key=lambda r: names.get(r["user_id"], "")):
        member = TeamMember(
            user_id=row["user_id"], username=names.get(row["user_id"], ""), role=row["role"], added_at=row["created_at"]
        )
        found.setdefault(row["team_id"], []).append(member)
    return found


def _record(row: dict[str, Any], members: list[TeamMember]) -> Team:
    spec = team_from_row(row)
    return Team(
        id=row["id"],
        name=spec.name,
        plan=spec.plan,
        models=spec.models,
        limits=spec.limits,
        members=members,
        source=row["source"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def list_teams(*, member: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[Team], int]:
    """Every team, or only those `member` (a user id) belongs to."""
    filters: list[Combinable] = []
    if member is not None:
        mine = await TeamMemberRow.select(TeamMemberRow.team_id).where(TeamMemberRow.user_id == member).run()
        filters.append(TeamRow.id.is_in([r["team_id"] for r in mine] or [""]))
    rows, total = await list_rows(TeamRow, filters, [TeamRow.name], limit, offset)
    members = await _members([r["id"] for r in rows])
    return [_record(r, members.get(r["id"], [])) for r in rows], total


async def _find(ref: str) -> dict[str, Any]:
    return await find_row(TeamRow, ref, TeamRow.name, "team")


async def get_team(ref: str) -> Team:
    row = await _find(ref)
    return _record(row, (await _members([row["id"]])).get(row["id"], []))


async def roles_of(user_id: str) -> dict[str, Role]:
    """Team id -> the user's role in it."""
    rows = await TeamMemberRow.select().where(TeamMemberRow.user_id == user_id).run()
    return {r["team_id"]: r["role"] for r in rows}


async def _check(spec: TeamSpec, except_id: str | None = None) -> None:
    problems = FieldProblems()
    if spec.plan is not None and not await PlanRow.exists().where(PlanRow.name == spec.plan).run():
        problems.add("plan", f"unknown plan '{spec.plan}'")
    problems.raise_if_any()
    match: Combinable = TeamRow.name == spec.name
    if except_id is not None:
        match = match & (TeamRow.id != except_id)
    if await TeamRow.exists().where(match).run():
        raise ConflictError(f"A team named '{spec.name}' already exists")


async def create_team(ctx: ServiceContext, spec: TeamSpec) -> Team:
    await _check(spec)
    row_id, stamp = new_id("team"), now()
    values = team_values(spec)
    async with writing(ctx, Change("create", "team", row_id, spec.name, after=values)):
        await TeamRow.insert(TeamRow(id=row_id, created_at=stamp, updated_at=stamp, **values)).run()
    return await get_team(row_id)


async def _save(ctx: ServiceContext, row: dict[str, Any], spec: TeamSpec) -> Team:
    await _check(spec, row["id"])
    values: dict[Column | str, Any] = {k: v for k, v in team_values(spec).items()}
    values["updated_at"] = now()
    async with writing(ctx, Change("update", "team", row["id"], spec.name, before=row, after=values)):
        await TeamRow.update(values).where(TeamRow.id == row["id"]).run()
    return await get_team(row["id"])


async def replace_team(ctx: ServiceContext, ref: str, spec: TeamSpec) -> Team:
    row = await _find(ref)
    ensure_api_owned(ctx, row, f"Team '{row['name']}'")
    return await _save(ctx, row, spec)


async def update_team(ctx: ServiceContext, ref: str, patch: Mapping[str, Any]) -> Team:
    row = await _find(ref)
    ensure_api_owned(ctx, row, f"Team '{row['name']}'")
    merged = {**msgspec.to_builtins(team_from_row(row)), **patch}
    return await _save(ctx, row, convert_strict(merged, TeamSpec))


def _active_keys(team_id: str) -> Combinable:
    return (ApiKeyRow.team_id == team_id) & ApiKeyRow.revoked_at.is_null()


async def _revoke(match: Combinable) -> None:
    stamp = now()
    await ApiKeyRow.update({ApiKeyRow.revoked_at: stamp, ApiKeyRow.updated_at: stamp}).where(match).run()


async def delete_team(ctx: ServiceContext, ref: str, *, force: bool = False) -> None:
    """409 while the team has active keys, unless `force`, which revokes them: a key must never outlive
    the team whose models and limits held it (it would run unrestricted by them)."""
    row = await _find(ref)
    ensure_api_owned(ctx, row, f"Team '{row['name']}'")
    keys: int = await ApiKeyRow.count().where(_active_keys(row["id"])).run()
    if keys and not force:
        raise ConflictError(
            f"Team '{row['name']}' has {keys} active API keys; revoke them first, or delete with ?force=true "
            "(which revokes them)",
            extra={"api_keys": keys},
        )
    detail = {"api_keys_revoked": keys} if keys else None
    async with writing(ctx, Change("delete", "team", row["id"], row["name"], detail=detail)):
        await _revoke(_active_keys(row["id"]))
        await TeamMemberRow.delete().where(TeamMemberRow.team_id == row["id"]).run()
        await TeamRow.delete().where(TeamRow.id == row["id"]).run()


def _membership_id(team_id: str, user_id: str) -> str:
    """One row per (team, user): the primary key itself keeps a user from joining a team twice."""
    return "tm_" + hashlib.blake2b(f"{team_id}:{user_id}".encode(), digest_size=12).hexdigest()


async def set_member(ctx: ServiceContext, ref: str, user_ref: str, role: Role) -> Team:
    """Add the user to the team, or change their role in it."""
    row = await _find(ref)
    user = await find_row(UserRow, user_ref, UserRow.username, "user")
    member_id = _membership_id(row["id"], user["id"])
    was = await TeamMemberRow.select(TeamMemberRow.role).where(TeamMemberRow.id == member_id).first().run()
    if was is not None and was["role"] == role:
        return await get_team(row["id"])
    detail = {"member": user["username"], "role": {"from": was["role"], "to": role} if was else role}
    async with writing(ctx, Change("update", "team", row["id"], row["name"], detail=detail)):
        if was is None:
            member = TeamMemberRow(id=member_id, team_id=row["id"], user_id=user["id"], role=role, created_at=now())
            await TeamMemberRow.insert(member).run()
        else:
            await TeamMemberRow.update({TeamMemberRow.role: role}).where(TeamMemberRow.id == member_id).run()
    return await get_team(row["id"])


async def remove_member(ctx: ServiceContext, ref: str, user_ref: str) -> Team:
    """Take the user out of the team and revoke the keys they made in it (they no longer speak for it)."""
    row = await _find(ref)
    user = await find_row(UserRow, user_ref, UserRow.username, "user")
    member_id = _membership_id(row["id"], user["id"])
    if not await TeamMemberRow.exists().where(TeamMemberRow.id == member_id).run():
        raise NotFoundError(f"User '{user['username']}' is not a member of team '{row['name']}'")
    theirs = _active_keys(row["id"]) & (ApiKeyRow.user_id == user["id"])
    keys: int = await ApiKeyRow.count().where(theirs).run()
    detail = {"member_removed": user["username"], "api_keys_revoked": keys}
    async with writing(ctx, Change("update", "team", row["id"], row["name"], detail=detail)):
        await _revoke(theirs)
        await TeamMemberRow.delete().where(TeamMemberRow.id == member_id).run()
    return await get_team(row["id"])
