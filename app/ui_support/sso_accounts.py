"""Who an ID token's claims make of a sign-in: the account (made at the first sign-in) and its role."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any, Literal

from app.catalog.audit import ACTOR, Actor
from app.catalog.services import users
from app.catalog.services.context import ServiceContext
from app.catalog.services.records import User
from app.catalog.services.users import UserChanges, UserDraft
from app.db.tables import UserRow
from app.settings import Settings

__all__ = ["SsoRefused", "account_for"]

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+\-]{0,199}$")


class SsoRefused(Exception):
    """The provider vouched for someone this gateway does not let in; the message says why."""


def _groups(claims: Mapping[str, Any], name: str) -> set[str]:
    value = claims.get(name)
    if isinstance(value, str):
        return {value}
    return {str(g) for g in value} if isinstance(value, list) else set()


def _username(claims: Mapping[str, Any], settings: Settings) -> str:
    name = claims.get(settings.oidc_username_claim)
    if not isinstance(name, str) or not _USERNAME.match(name):
        raise SsoRefused(f"The sign-in provider sent no usable '{settings.oidc_username_claim}' claim")
    if settings.oidc_username_claim == "email" and claims.get("email_verified") is False:
        raise SsoRefused("The sign-in provider has not verified this email address")
    if settings.oidc_allowed_domains:
        domain = name.rpartition("@")[2].lower()
        if domain not in {d.lower() for d in settings.oidc_allowed_domains}:
            raise SsoRefused(f"Accounts of {domain or 'that domain'} may not sign in here")
    return name


async def account_for(claims: Mapping[str, Any], settings: Settings, ctx: ServiceContext) -> User:
    """The enabled account the claims name: made at the first sign-in, its role kept in step with the
    provider's groups when admin groups are configured."""
    username = _username(claims, settings)
    is_admin = bool(_groups(claims, settings.oidc_groups_claim) & set(settings.oidc_admin_groups))
    role: Literal["admin", "user"] = "admin" if is_admin else "user"
    ACTOR.set(Actor("sso", "system"))
    row = await UserRow.select().where(UserRow.username == username).first().run()
    if row is None:
        if role == "user" and not settings.oidc_default_plan:
            raise SsoRefused("Single sign-on lets only admins in here until POLYROUTE_OIDC_DEFAULT_PLAN is set")
        # Nobody knows this password: the account signs in through the provider only (or after an admin sets one).
        draft = UserDraft(
            username=username,
            password=secrets.token_urlsafe(32),
            role=role,
            plan=settings.oidc_default_plan if role == "user" else None,
        )
        return await users.create_user(ctx, draft)
    if row["disabled"]:
        raise SsoRefused("This account is disabled")
    if settings.oidc_admin_groups and row["role"] != role:
        if role == "user" and row["plan"] is None and not settings.oidc_default_plan:
            raise SsoRefused("This account is no longer an admin and has no plan to fall back to")
        plan = row["plan"] if row["plan"] is not None or role == "admin" else settings.oidc_default_plan
        return await users.update_user(ctx, row["id"], UserChanges(role=role, plan=plan))
    return await users.get_user(row["id"])
