"""Plans: write them, and keep the keys and users that reference them consistent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from piccolo.columns import Column
from piccolo.custom_types import Combinable

from app.catalog.apply import plan_values
from app.catalog.audit import Change
from app.catalog.keys import new_id
from app.catalog.services.context import ServiceContext, ensure_api_owned, find_row, writing
from app.catalog.services.records import Plan
from app.catalog.services.validation import convert_strict
from app.catalog.specs import PlanSpec
from app.catalog.store import now, plan_from_row
from app.db.paging import list_rows
from app.db.tables import ApiKeyRow, PlanRow, TeamRow, UserRow
from app.errors import ConflictError

__all__ = ["create_plan", "delete_plan", "get_plan", "list_plans", "plan_exists", "replace_plan", "update_plan"]


def _record(row: dict[str, Any]) -> Plan:
    spec = plan_from_row(row)
    return Plan(
        id=row["id"],
        name=spec.name,
        models=spec.models,
        targets=spec.targets,
        daily_requests=spec.daily_requests,
        rpm=spec.rpm,
        tpm=spec.tpm,
        monthly_budget_usd=spec.monthly_budget_usd,
        daily_budget_usd=spec.daily_budget_usd,
        cache=spec.cache,
        end_user_limits=spec.end_user_limits,
        user_limits=spec.user_limits,
        source=row["source"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def list_plans(*, limit: int = 50, offset: int = 0) -> tuple[list[Plan], int]:
    rows, total = await list_rows(PlanRow, [], [PlanRow.name], limit, offset)
    return [_record(r) for r in rows], total


async def get_plan(ref: str) -> Plan:
    return _record(await find_row(PlanRow, ref, PlanRow.name, "plan"))


async def plan_exists(name: str) -> bool:
    found: bool = await PlanRow.exists().where(PlanRow.name == name).run()
    return found


async def _usage(name: str) -> tuple[int, int, int]:
    """(active API keys, users, teams) on the plan."""
    keys: int = await ApiKeyRow.count().where((ApiKeyRow.plan == name) & ApiKeyRow.revoked_at.is_null()).run()
    users: int = await UserRow.count().where(UserRow.plan == name).run()
    teams: int = await TeamRow.count().where(TeamRow.plan == name).run()
    return keys, users, teams


async def _ensure_name_free(name: str, except_id: str | None = None) -> None:
    match: Combinable = PlanRow.name == name
    if except_id is not None:
        match = match & (PlanRow.id != except_id)
    if await PlanRow.exists().where(match).run():
        raise ConflictError(f"A plan named '{name}' already exists")


async def create_plan(ctx: ServiceContext, spec: PlanSpec) -> Plan:
    row_id, stamp = new_id("plan"), now()
    values = plan_values(spec)
    async with writing(ctx, Change("create", "plan", row_id, spec.name, after=values)):
        await _ensure_name_free(spec.name)
        await PlanRow.insert(PlanRow(id=row_id, created_at=stamp, updated_at=stamp, **values)).run()
    return await get_plan(row_id)


async def _save(ctx: ServiceContext, row: dict[str, Any], spec: PlanSpec) -> Plan:
    values: dict[Column | str, Any] = {k: v for k, v in plan_values(spec).items()}
    values["updated_at"] = now()
    async with writing(ctx, Change("update", "plan", row["id"], spec.name, before=row, after=values)):
        if spec.name != row["name"]:
            await _ensure_name_free(spec.name, row["id"])
            keys, users, teams = await _usage(row["name"])
            if keys or users or teams:
                raise ConflictError(
                    f"Plan '{row['name']}' is used by {keys} API keys, {users} users and {teams} teams; "
                    "renaming it would detach them, so create a new plan and move them instead",
                    extra={"api_keys": keys, "users": users, "teams": teams},
                )
        await PlanRow.update(values).where(PlanRow.id == row["id"]).run()
    return await get_plan(row["id"])


async def replace_plan(ctx: ServiceContext, ref: str, spec: PlanSpec) -> Plan:
    row = await find_row(PlanRow, ref, PlanRow.name, "plan")
    ensure_api_owned(ctx, row, f"Plan '{row['name']}'")
    return await _save(ctx, row, spec)


async def update_plan(ctx: ServiceContext, ref: str, patch: Mapping[str, Any]) -> Plan:
    row = await find_row(PlanRow, ref, PlanRow.name, "plan")
    ensure_api_owned(ctx, row, f"Plan '{row['name']}'")
    merged = {**msgspec.to_builtins(plan_from_row(row)), **patch}
    return await _save(ctx, row, convert_strict(merged, PlanSpec))


async def delete_plan(ctx: ServiceContext, ref: str, *, force: bool = False) -> None:
    """409 while active keys or users are on it; `force` revokes those keys and unbinds those users.

    Revoking rather than detaching: a key with no plan has no limits, so a forced delete must never
    turn a restricted key into an unrestricted one.
    """
    row = await find_row(PlanRow, ref, PlanRow.name, "plan")
    name = row["name"]
    ensure_api_owned(ctx, row, f"Plan '{name}'")
    keys, users, teams = await _usage(name)
    if (keys or users or teams) and not force:
        raise ConflictError(
            f"Plan '{name}' is used by {keys} API keys, {users} users and {teams} teams; move them to another plan "
            "first, or delete with ?force=true (which revokes those keys)",
            extra={"api_keys": keys, "users": users, "teams": teams},
        )
    detail = (
        {"api_keys_revoked": keys, "users_unbound": users, "teams_unbound": teams} if keys or users or teams else None
    )
    async with writing(ctx, Change("delete", "plan", row["id"], name, detail=detail)):
        stamp = now()
        active = (ApiKeyRow.plan == name) & ApiKeyRow.revoked_at.is_null()
        await ApiKeyRow.update({ApiKeyRow.revoked_at: stamp, ApiKeyRow.updated_at: stamp}).where(active).run()
        await UserRow.update({UserRow.plan: None, UserRow.updated_at: stamp}).where(UserRow.plan == name).run()
        await TeamRow.update({TeamRow.plan: None, TeamRow.updated_at: stamp}).where(TeamRow.plan == name).run()
        await PlanRow.delete().where(PlanRow.id == row["id"]).run()
