"""CLI verbs that manage keys and admin users directly in the database (servers notice within seconds)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import io
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec

from app.catalog.audit import ACTOR, Actor
from app.catalog.secrets import SecretBox
from app.catalog.services import api_keys, users
from app.catalog.services.context import ServiceContext
from app.catalog.services.records import ApiKey
from app.catalog.services.validation import convert_strict
from app.errors import GatewayError
from app.settings import Settings, load_settings

__all__ = ["register"]

T = TypeVar("T")


async def _with_catalog(settings: Settings, action: Callable[[ServiceContext], Awaitable[T]]) -> T:
    from app.db.engine import close_database, migrate, start_pool, use_database

    with contextlib.redirect_stdout(io.StringIO()):  # piccolo narrates migrations on stdout
        await migrate(settings.database_url)
    engine = use_database(settings.database_url)
    await start_pool(engine)
    try:
        box = SecretBox.from_settings(settings.secret_key, settings.data_dir)
        ACTOR.set(Actor("cli", "cli"))
        return await action(ServiceContext(box=box, config_path=settings.config_path))
    finally:
        await close_database(engine)


def _run(action: Callable[[ServiceContext], Awaitable[T]]) -> T | None:
    """Run against POLYROUTE_DATABASE_URL; a domain error is printed and becomes None."""
    try:
        return asyncio.run(_with_catalog(load_settings(os.environ), action))
    except GatewayError as exc:
        print(f"polyroute: {exc.detail}", file=sys.stderr)
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"polyroute: {exc}", file=sys.stderr)
    return None


def _read_password(given: str | None) -> str:
    if given is not None:
        return given
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise SystemExit("polyroute: the passwords differ")
    return first


def cmd_create_user(args: argparse.Namespace) -> int:
    fields = {"username": args.username, "password": _read_password(args.password), "role": args.role}
    try:
        draft = convert_strict({**fields, "plan": args.plan}, users.UserDraft)
    except GatewayError as exc:
        print(f"polyroute: {exc.detail}", file=sys.stderr)
        return 2
    user = _run(lambda ctx: users.create_user(ctx, draft))
    if user is None:
        return 1
    plan = f", plan {user.plan}" if user.plan else ""
    print(f"Created {user.role} {user.username} ({user.id}{plan})")
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    try:
        fields = {"name": args.name, "plan": args.plan, "team": args.team, "expires_in_days": args.expires_in_days}
        draft = convert_strict(fields, api_keys.KeyDraft)
    except GatewayError as exc:
        print(f"polyroute: {exc.detail}", file=sys.stderr)
        return 2
    created = _run(lambda ctx: api_keys.create_key(ctx, draft))
    if created is None:
        return 1
    expires = created.expires_at.isoformat() if created.expires_at else "never"
    print(
        f"Created API key {created.id} '{created.name}' on plan {created.plan or '(none)'}"
        f"{f' in team {args.team}' if created.team_id else ''}, expires {expires}.\n"
        "The secret follows on stdout; it is shown only now.",
        file=sys.stderr,
    )
    print(created.key)
    return 0


async def _all_keys(_: ServiceContext) -> list[ApiKey]:
    found: list[Any] = []
    while True:
        page, total = await api_keys.list_keys(limit=500, offset=len(found))
        found.extend(page)
        if not page or len(found) >= total:
            return found


def cmd_keys_list(args: argparse.Namespace) -> int:
    keys = _run(_all_keys)
    if keys is None:
        return 1
    if args.json:
        print(msgspec.json.encode(keys).decode())
        return 0
    print(f"{'ID':<22} {'NAME':<24} {'PREFIX':<16} {'PLAN':<14} {'EXPIRES':<20} STATUS")
    for key in keys:
        status = "revoked" if key.revoked_at else "active"
        expires = key.expires_at.strftime("%Y-%m-%d %H:%M") if key.expires_at else "-"
        print(f"{key.id:<22} {key.name[:24]:<24} {key.prefix:<16} {(key.plan or '-')[:14]:<14} {expires:<20} {status}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    key = _run(lambda ctx: api_keys.revoke_key(ctx, args.id))
    if key is None:
        return 1
    print(f"Revoked {key.id} '{key.name}'")
    return 0


def register(sub: Any) -> None:
    """`polyroute admin create-user` and `polyroute keys create|list|revoke`."""
    admin = sub.add_parser("admin", help="manage admin and user accounts")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create_user = admin_sub.add_parser("create-user", help="create an account that logs in for a JWT")
    create_user.add_argument("username")
    create_user.add_argument("--password", help="prompted for (or read from stdin) when omitted")
    create_user.add_argument("--role", choices=["admin", "user"], default="admin")
    create_user.add_argument("--plan", help="required for --role user: the plan of every key the user creates")
    create_user.set_defaults(func=cmd_create_user)

    keys = sub.add_parser("keys", help="manage inference API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key and print its secret once")
    create.add_argument("--name", required=True)
    create.add_argument("--plan", help="plan name (omit for a key without limits, or for its team's plan)")
    create.add_argument("--team", help="team id or name: its models and shared limits hold the key")
    create.add_argument("--expires-in-days", type=int)
    create.set_defaults(func=cmd_keys_create)
    listing = keys_sub.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=cmd_keys_list)
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id")
    revoke.set_defaults(func=cmd_keys_revoke)
