"""Inference API keys: create (secret shown once), list, revoke, rotate with a grace period."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, NamedTuple

import msgspec
from msgspec import Meta
from piccolo.columns import Column
from piccolo.custom_types import Combinable

from app.accounting.attribution import tags_problem
from app.catalog.audit import Change
from app.catalog.keys import generate_secret, hash_secret, new_id, visible_prefix
from app.catalog.services.context import ServiceContext, ensure_api_owned, writing
from app.catalog.services.records import ApiKey, ApiKeyCreated
from app.catalog.services.teams import roles_of as team_roles
from app.catalog.services.validation import FieldProblems
from app.catalog.specs import Limits, PlanSpec
from app.catalog.store import dump_json, load_json, now, plan_from_row
from app.db.paging import list_rows
from app.db.tables import ApiKeyRow, PlanRow, TeamMemberRow, TeamRow, UserRow
from app.errors import ConflictError, NotFoundError, PermissionDeniedError

__all__ = [
    "MAX_GRACE_S",
    "KeyDraft",
    "KeyScope",
    "create_key",
    "create_user_key",
    "get_key",
    "key_scope",
    "limits_above_plan",
    "list_keys",
    "rename_key",
    "revoke_key",
    "rotate_key",
    "update_key",
]

MAX_GRACE_S = 30 * 86400

ModelPattern = Annotated[str, Meta(min_length=1, max_length=200)]


class KeyDraft(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What the creator chooses about a new key; the secret is always generated."""

    name: Annotated[str, Meta(min_length=1, max_length=200)]
    plan: str | None = None
    """Plan name; a user's keys are always on the user's plan."""
    allowed_models: list[ModelPattern] | None = None
    """Glob patterns that narrow the plan's models; null = the plan's."""
    limits: Limits = msgspec.field(default_factory=Limits)
    expires_at: Annotated[datetime, Meta(tz=True)] | None = None
    expires_in_days: Annotated[int, Meta(gt=0, le=36500)] | None = None
    """Alternative to `expires_at`."""
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    user_id: str | None = None
    """Owner (admins only); keys created with a user JWT belong to that user."""
    team: str | None = None
    """Team id or name: its models and shared limits hold the key too (its plan, when none is named)."""

    def __post_init__(self) -> None:
        if problem := tags_problem(self.metadata):
            raise ValueError(f"metadata.tags: {problem}")


def _record(row: dict[str, Any]) -> ApiKey:
    allowed = load_json(row["allowed_models"])
    return ApiKey(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        plan=row["plan"],
        user_id=row["user_id"],
        allowed_models=list(allowed) if allowed is not None else None,
        limits=msgspec.convert(load_json(row["overrides"]) or {}, Limits),
        expires_at=row["expires_at"],
        metadata=load_json(row["metadata"]) or {},
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
        previous_valid_until=row["previous_valid_until"],
        source=row["source"],
        team_id=row["team_id"],
    )


def _with_secret(row: dict[str, Any], secret: str) -> ApiKeyCreated:
    return ApiKeyCreated(**msgspec.structs.asdict(_record(row)), key=secret)


class KeyScope(NamedTuple):
    """Which keys a caller may see and manage: every key (`user_id` None: an admin), or a user's own and
    every key of the teams they administer. Passed on as keyword arguments (`**scope._asdict()`)."""

    user_id: str | None
    teams: tuple[str, ...]


async def key_scope(user_id: str | None, *, admin: bool) -> KeyScope:
    if admin or user_id is None:
        return KeyScope(None, ())
    roles = await team_roles(user_id)
    return KeyScope(user_id, tuple(team for team, role in roles.items() if role == "admin"))


def _visible(user_id: str, teams: tuple[str, ...]) -> Combinable:
    """A user's own keys, and every key of the teams they administer."""
    mine: Combinable = ApiKeyRow.user_id == user_id
    return mine | ApiKeyRow.team_id.is_in(list(teams)) if teams else mine


async def _find(key_id: str, user_id: str | None, teams: tuple[str, ...] = ()) -> dict[str, Any]:
    match: Combinable = ApiKeyRow.id == key_id
    if user_id is not None:
        match = match & _visible(user_id, teams)
    row: dict[str, Any] | None = await ApiKeyRow.select().where(match).first().run()
    if row is None:
        raise NotFoundError(f"No API key with id '{key_id}'")
    return row


async def list_keys(
    *,
    user_id: str | None = None,
    teams: tuple[str, ...] = (),
    plan: str | None = None,
    team_id: str | None = None,
    revoked: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ApiKey], int]:
    """`user_id` (with the `teams` they administer) scopes the list to what that user may see."""
    filters: list[Combinable] = []
    if user_id is not None:
        filters.append(_visible(user_id, teams))
    if team_id is not None:
        filters.append(ApiKeyRow.team_id == team_id)
    if plan is not None:
        filters.append(ApiKeyRow.plan == plan)
    if revoked is not None:
        filters.append(ApiKeyRow.revoked_at.is_not_null() if revoked else ApiKeyRow.revoked_at.is_null())
    rows, total = await list_rows(ApiKeyRow, filters, [ApiKeyRow.created_at, ApiKeyRow.id], limit, offset)
    return [_record(r) for r in rows], total


async def get_key(key_id: str, *, user_id: str | None = None, teams: tuple[str, ...] = ()) -> ApiKey:
    """`user_id` scopes the lookup (with the teams they administer): another user's key is a 404, not a 403."""
    return _record(await _find(key_id, user_id, teams))


def _expiry(draft: KeyDraft, problems: FieldProblems) -> datetime | None:
    if draft.expires_at is not None and draft.expires_in_days is not None:
        problems.add("expires_in_days", "give expires_at or expires_in_days, not both")
        return None
    if draft.expires_in_days is not None:
        return now() + timedelta(days=draft.expires_in_days)
    if draft.expires_at is not None and draft.expires_at <= now():
        problems.add("expires_at", "must be in the future")
    return draft.expires_at


async def _insert(ctx: ServiceContext, draft: KeyDraft, expires_at: datetime | None) -> ApiKeyCreated:
    secret, key_id, stamp = generate_secret(), new_id("key"), now()
    row = ApiKeyRow(
        id=key_id,
        name=draft.name,
        prefix=visible_prefix(secret),
        key_hash=hash_secret(secret),
        plan=draft.plan,
        user_id=draft.user_id,
        team_id=draft.team,
        allowed_models=dump_json(draft.allowed_models) if draft.allowed_models is not None else None,
        overrides=dump_json(draft.limits),
        metadata=dump_json(draft.metadata),
        expires_at=expires_at,
        source="api",
        created_at=stamp,
        updated_at=stamp,
    )
    async with writing(ctx, Change("create", "api_key", key_id, draft.name, after=row.to_dict())):
        await ApiKeyRow.insert(row).run()
    return _with_secret(await _find(key_id, None), secret)


async def _team(ref: str, problems: FieldProblems) -> dict[str, Any] | None:
    row: dict[str, Any] | None = await TeamRow.select().where((TeamRow.id == ref) | (TeamRow.name == ref)).first().run()
    if row is None:
        problems.add("team", f"unknown team '{ref}'")
    return row


async def create_key(ctx: ServiceContext, draft: KeyDraft) -> ApiKeyCreated:
    """An admin's key: any existing plan (or none = unlimited; its team's when it names one), optionally
    owned by a user and in a team."""
    problems = FieldProblems()
    expires_at = _expiry(draft, problems)
    team = await _team(draft.team, problems) if draft.team is not None else None
    if team is not None:
        draft = msgspec.structs.replace(draft, team=team["id"], plan=draft.plan or team["plan"])
    if draft.plan is not None and not await PlanRow.exists().where(PlanRow.name == draft.plan).run():
        problems.add("plan", f"unknown plan '{draft.plan}'")
    if draft.user_id is not None and not await UserRow.exists().where(UserRow.id == draft.user_id).run():
        problems.add("user_id", f"unknown user '{draft.user_id}'")
    problems.raise_if_any()
    return await _insert(ctx, draft, expires_at)


def limits_above_plan(limits: Limits, plan: PlanSpec) -> list[str]:
    """Override fields that would give a key more than its plan allows."""
    raised = []
    for name in ("daily_requests", "rpm", "tpm", "monthly_budget_usd", "daily_budget_usd"):
        own, cap = getattr(limits, name), getattr(plan, name)
        if own is not None and cap is not None and own > cap:
            raised.append(name)
        if limits.end_user_limits is not None and plan.end_user_limits is not None:
            own, cap = getattr(limits.end_user_limits, name), getattr(plan.end_user_limits, name)
            if own is not None and cap is not None and own > cap:
                raised.append(f"end_user_limits.{name}")
    return raised


async def create_user_key(ctx: ServiceContext, user_id: str, draft: KeyDraft) -> ApiKeyCreated:
    """A user's own key: on the user's plan (or, in a team of theirs, the team's when it has one), with
    limits at most the plan's."""
    user = await UserRow.select(UserRow.plan).where(UserRow.id == user_id).first().run()
    plan_name, whose = (user or {}).get("plan"), "your plan"
    if draft.team is not None:
        problems = FieldProblems()
        team = await _team(draft.team, problems)
        problems.raise_if_any()
        assert team is not None
        member = TeamMemberRow.exists().where(
            (TeamMemberRow.team_id == team["id"]) & (TeamMemberRow.user_id == user_id)
        )
        if not await member.run():
            raise PermissionDeniedError(f"You are not a member of team '{team['name']}'")
        draft = msgspec.structs.replace(draft, team=team["id"])
        if team["plan"] is not None:
            plan_name, whose = team["plan"], f"team '{team['name']}''s plan"
    plan_row = await PlanRow.select().where(PlanRow.name == plan_name).first().run() if plan_name else None
    if plan_row is None:
        raise PermissionDeniedError("Your account is not bound to a plan; ask an admin to assign one")
    plan = plan_from_row(plan_row)
    if draft.plan is not None and draft.plan != plan.name:
        raise PermissionDeniedError(f"Keys you create are on {whose} '{plan.name}'; you cannot pick another")
    if draft.user_id is not None and draft.user_id != user_id:
        raise PermissionDeniedError("You can only create keys for yourself")
    if raised := limits_above_plan(draft.limits, plan):
        raise PermissionDeniedError(f"Limits above your plan's are not allowed: {', '.join(raised)}")
    if draft.limits.targets is not None and plan.targets:
        # Glob sets don't compare, so a user cannot prove a narrower list stays inside the plan's.
        raise PermissionDeniedError(
            f"Plan '{plan.name}' sets which targets its keys may use; only an admin can change that"
        )
    problems = FieldProblems()
    expires_at = _expiry(draft, problems)
    problems.raise_if_any()
    return await _insert(ctx, msgspec.structs.replace(draft, plan=plan.name, user_id=user_id), expires_at)


async def revoke_key(
    ctx: ServiceContext, key_id: str, *, user_id: str | None = None, teams: tuple[str, ...] = ()
) -> ApiKey:
    """Sets revoked_at (idempotent); the key stops working on this replica before the response."""
    row = await _find(key_id, user_id, teams)
    ensure_api_owned(ctx, row, f"API key '{row['name']}'")
    if row["revoked_at"] is None:
        stamp = now()
        async with writing(ctx, Change("revoke", "api_key", key_id, row["name"])):
            update: dict[Column | str, Any] = {ApiKeyRow.revoked_at: stamp, ApiKeyRow.updated_at: stamp}
            await ApiKeyRow.update(update).where(ApiKeyRow.id == key_id).run()
    return _record(await _find(key_id, None))


async def rename_key(
    ctx: ServiceContext, key_id: str, name: str, *, user_id: str | None = None, teams: tuple[str, ...] = ()
) -> ApiKey:
    """A new display name; the secret, plan and usage stay (usage rows refer to the key's id)."""
    return await update_key(ctx, key_id, name=name, user_id=user_id, teams=teams)


async def update_key(
    ctx: ServiceContext,
    key_id: str,
    *,
    name: str | None = None,
    metadata: dict[str, Any] | None = None,
    user_id: str | None = None,
    teams: tuple[str, ...] = (),
) -> ApiKey:
    """Change the display name and/or the metadata (replaced whole); the secret, plan, limits and usage stay."""
    row = await _find(key_id, user_id, teams)
    ensure_api_owned(ctx, row, f"API key '{row['name']}'")
    update: dict[Column | str, Any] = {ApiKeyRow.updated_at: now()}
    problems = FieldProblems()
    if name is not None:
        name = name.strip()
        if not 1 <= len(name) <= 200:
            problems.add("name", "must be 1 to 200 characters")
        update[ApiKeyRow.name] = name
    if metadata is not None:
        if problem := tags_problem(metadata):
            problems.add("metadata", f"tags: {problem}")
        update[ApiKeyRow.metadata] = dump_json(metadata)
    if len(update) == 1:
        problems.add("name", "nothing to change: give `name` and/or `metadata`")
    problems.raise_if_any()
    async with writing(ctx, Change("update", "api_key", key_id, name or row["name"], before=row, after=update)):
        await ApiKeyRow.update(update).where(ApiKeyRow.id == key_id).run()
    return _record(await _find(key_id, None))


async def rotate_key(
    ctx: ServiceContext,
    key_id: str,
    grace_period_s: int = 0,
    *,
    user_id: str | None = None,
    teams: tuple[str, ...] = (),
) -> ApiKeyCreated:
    """A new secret; the old one keeps working for `grace_period_s` seconds (0 = stops now)."""
    row = await _find(key_id, user_id, teams)
    ensure_api_owned(ctx, row, f"API key '{row['name']}'")
    if row["revoked_at"] is not None:
        raise ConflictError(f"API key '{row['name']}' is revoked; create a new key instead")
    grace = max(0, min(int(grace_period_s), MAX_GRACE_S))
    secret, stamp = generate_secret(), now()
    update: dict[Column | str, Any] = {
        ApiKeyRow.key_hash: hash_secret(secret),
        ApiKeyRow.prefix: visible_prefix(secret),
        ApiKeyRow.previous_hash: row["key_hash"] if grace else None,
        ApiKeyRow.previous_valid_until: stamp + timedelta(seconds=grace) if grace else None,
        ApiKeyRow.updated_at: stamp,
    }
    async with writing(ctx, Change("rotate", "api_key", key_id, row["name"], before=row, after=update)):
        await ApiKeyRow.update(update).where(ApiKeyRow.id == key_id).run()
    return _with_secret(await _find(key_id, None), secret)
