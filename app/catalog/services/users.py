"""Admin and plan-bound user accounts: argon2 password hashes, login checks, lifecycle."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Annotated, Any, Literal

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from msgspec import UNSET, Meta, UnsetType
from piccolo.columns import Column
from piccolo.custom_types import Combinable

from app.catalog.audit import Change
from app.catalog.keys import new_id
from app.catalog.services.context import ServiceContext, find_row, writing
from app.catalog.services.records import User
from app.catalog.services.validation import FieldProblems
from app.catalog.store import now
from app.db.paging import list_rows
from app.db.tables import ApiKeyRow, PlanRow, TeamMemberRow, UserRow
from app.errors import ConflictError

__all__ = [
    "Role",
    "UserChanges",
    "UserDraft",
    "active_user",
    "create_user",
    "delete_user",
    "get_user",
    "list_users",
    "login",
    "update_user",
]

Role = Literal["admin", "user"]
Username = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+\-]*$")]
Password = Annotated[str, Meta(min_length=8, max_length=1024)]


class UserDraft(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new account; role `user` needs a plan, which every key the user creates gets."""

    username: Username
    password: Password
    """Write-only; stored as an argon2 hash."""
    role: Role = "user"
    plan: str | None = None
    disabled: bool = False


class UserChanges(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A partial update: absent fields keep their value."""

    username: Username | UnsetType = UNSET
    password: Password | UnsetType = UNSET
    role: Role | UnsetType = UNSET
    plan: str | UnsetType | None = UNSET
    disabled: bool | UnsetType = UNSET


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    """Verified against when the username is unknown, so both failures take the same time."""
    return _hasher().hash("polyroute-decoy-password")


async def _hash(password: str) -> str:
    return await asyncio.to_thread(_hasher().hash, password)


def _verify_sync(stored: str, password: str) -> bool:
    try:
        return _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _record(row: dict[str, Any]) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        role=row["role"],
        plan=row["plan"],
        disabled=row["disabled"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def login(username: str, password: str) -> User | None:
    """The user when the password matches and the account is enabled; None otherwise."""
    row = await UserRow.select().where(UserRow.username == username).first().run()
    if row is None:
        await asyncio.to_thread(_verify_sync, _decoy_hash(), password)
        return None
    if not await asyncio.to_thread(_verify_sync, row["password_hash"], password) or row["disabled"]:
        return None
    if _hasher().check_needs_rehash(row["password_hash"]):
        update: dict[Column | str, Any] = {UserRow.password_hash: await _hash(password)}
        await UserRow.update(update).where(UserRow.id == row["id"]).run()
    return _record(row)


async def active_user(user_id: str) -> User | None:
    """The enabled account behind a JWT (read per management request, so disabling bites at once)."""
    row = await UserRow.select().where(UserRow.id == user_id).first().run()
    return _record(row) if row and not row["disabled"] else None


async def list_users(*, role: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[User], int]:
    filters = [UserRow.role == role] if role is not None else []
    rows, total = await list_rows(UserRow, filters, [UserRow.username], limit, offset)
    return [_record(r) for r in rows], total


async def get_user(ref: str) -> User:
    return _record(await find_row(UserRow, ref, UserRow.username, "user"))


async def _check(role: str, plan: str | None, username: str, except_id: str | None = None) -> None:
    problems = FieldProblems()
    if role == "user" and plan is None:
        problems.add("plan", "required for role 'user' (every key the user creates gets this plan)")
    elif plan is not None and not await PlanRow.exists().where(PlanRow.name == plan).run():
        problems.add("plan", f"unknown plan '{plan}'")
    problems.raise_if_any()
    match: Combinable = UserRow.username == username
    if except_id is not None:
        match = match & (UserRow.id != except_id)
    if await UserRow.exists().where(match).run():
        raise ConflictError(f"A user named '{username}' already exists")


async def create_user(ctx: ServiceContext, draft: UserDraft) -> User:
    await _check(draft.role, draft.plan, draft.username)
    user_id, stamp = new_id("user"), now()
    row = UserRow(
        id=user_id,
        username=draft.username,
        password_hash=await _hash(draft.password),
        role=draft.role,
        plan=draft.plan,
        disabled=draft.disabled,
        created_at=stamp,
        updated_at=stamp,
    )
    async with writing(ctx, Change("create", "user", user_id, draft.username, after=row.to_dict())):
        await UserRow.insert(row).run()
    return await get_user(user_id)


async def update_user(ctx: ServiceContext, ref: str, changes: UserChanges) -> User:
    """A plan change moves the user's active keys to the new plan too."""
    row = await find_row(UserRow, ref, UserRow.username, "user")
    fields = {k: v for k, v in msgspec.structs.asdict(changes).items() if v is not UNSET and k != "password"}
    merged = {**row, **fields}
    values: dict[Column | str, Any] = {k: v for k, v in fields.items()}
    await _check(merged["role"], merged["plan"], merged["username"], row["id"])
    if isinstance(changes.password, str):
        values[UserRow.password_hash] = await _hash(changes.password)
    values[UserRow.updated_at] = now()
    async with writing(ctx, Change("update", "user", row["id"], merged["username"], before=row, after=values)):
        await UserRow.update(values).where(UserRow.id == row["id"]).run()
        if merged["plan"] != row["plan"] and merged["plan"] is not None:
            active = (ApiKeyRow.user_id == row["id"]) & ApiKeyRow.revoked_at.is_null()
            await ApiKeyRow.update({ApiKeyRow.plan: merged["plan"]}).where(active).run()
    return await get_user(row["id"])


async def delete_user(ctx: ServiceContext, ref: str) -> None:
    """Deletes the account and revokes its keys."""
    row = await find_row(UserRow, ref, UserRow.username, "user")
    stamp = now()
    async with writing(ctx, Change("delete", "user", row["id"], row["username"])):
        active = (ApiKeyRow.user_id == row["id"]) & ApiKeyRow.revoked_at.is_null()
        await ApiKeyRow.update({ApiKeyRow.revoked_at: stamp, ApiKeyRow.updated_at: stamp}).where(active).run()
        await TeamMemberRow.delete().where(TeamMemberRow.user_id == row["id"]).run()
        await UserRow.delete().where(UserRow.id == row["id"]).run()
