"""The audit log: who changed which catalog object, when, and what changed.

Every catalog write (`writing(ctx, change)`) records its `Change` in the same transaction as the
change itself, so an audit row exists exactly when the change committed. Who acted comes from
`ACTOR`, a context variable the management API's and the UI's guards set for the request (and the
CLI for its command). Secrets never reach the log: encrypted credentials, key and password hashes
are recorded only as "(set)", "(changed)" or "(removed)".
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from piccolo.columns import Column

from app.catalog.keys import new_id
from app.catalog.secrets import mask_headers
from app.catalog.store import rfc3339
from app.db.paging import list_rows
from app.db.tables import AuditRow

__all__ = ["ACTOR", "Actor", "AuditEvent", "Change", "diff", "list_events", "record"]

Action = Literal["create", "update", "delete", "revoke", "rotate"]
Resource = Literal["provider", "route", "plan", "api_key", "user", "team", "prompt"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is changing the catalog."""

    name: str
    """The username, `admin key`, or `cli`."""
    via: Literal["api", "ui", "cli", "system"]
    user_id: str | None = None


SYSTEM = Actor("system", "system")
ACTOR: ContextVar[Actor | None] = ContextVar("polyroute_actor", default=None)
"""Set per request by the management API's and the UI's guards (each request runs in a task of its own)."""

_SECRET = frozenset({"api_key_enc", "key_hash", "previous_hash", "password_hash"})
_NOT_CHANGES = frozenset({"id", "created_at", "updated_at", "last_used_at"})


@dataclass(frozen=True, slots=True)
class Change:
    """One catalog change, described by the rows before and after (either may be absent)."""

    action: Action
    resource: Resource
    resource_id: str
    name: str
    before: Mapping[Any, Any] | None = None
    after: Mapping[Any, Any] | None = None
    detail: Mapping[str, Any] | None = None
    """What else the change did (routes a provider's deletion changed, keys a plan's revoked)."""


def _field(name: Any) -> str:
    return name._meta.name if isinstance(name, Column) else str(name)


def _plain(value: Any) -> Any:
    """A stored value as JSON would show it: JSON columns decoded, times as ISO strings."""
    if isinstance(value, Mapping | list):
        return value
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return msgspec.json.decode(value)
        except msgspec.DecodeError:
            return value
    if isinstance(value, bytes):
        return "(binary)"
    return value


def _secret(before: Any, after: Any) -> str:
    """Written again with the same value reads as replaced too: ciphertexts and hashes do not compare."""
    if before in (None, "") and after not in (None, ""):
        return "(set)"
    if after in (None, ""):
        return "(removed)"
    return "(replaced)"


def _shown(name: str, value: Any) -> Any:
    value = _plain(value)
    if name == "headers" and isinstance(value, Mapping):  # a provider's extra headers may carry credentials
        return mask_headers(value)
    return value


def diff(before: Mapping[Any, Any] | None, after: Mapping[Any, Any] | None) -> dict[str, Any]:
    """Field -> new value (create), or field -> {from, to} for what an update changed; secrets masked."""
    old = {_field(k): v for k, v in (before or {}).items()}
    new = {_field(k): v for k, v in (after or {}).items()}
    out: dict[str, Any] = {}
    if before is None:
        for name, value in new.items():
            if name not in _NOT_CHANGES and value not in (None, "", {}, [], "{}", "[]"):
                out[name] = _secret(None, value) if name in _SECRET else _shown(name, value)
        return out
    for name, value in new.items():
        if name in _NOT_CHANGES or name not in old:
            continue
        was, now = _shown(name, old[name]), _shown(name, value)
        if name in _SECRET:
            if value != old[name]:  # a credential sent again is re-encrypted (Fernet): it reads as replaced
                out[name] = _secret(old[name], value)
        elif was != now:
            out[name] = {"from": was, "to": now}
    return out


async def record(change: Change) -> None:
    """One audit row for `change`, by the current actor; call it inside the change's transaction."""
    actor = ACTOR.get() or SYSTEM
    changes = diff(change.before, change.after) if change.action in ("create", "update", "rotate") else {}
    changes.update(change.detail or {})
    await AuditRow.insert(
        AuditRow(
            id=new_id("audit"),
            ts=datetime.now(UTC),
            actor=actor.name[:200],
            actor_user_id=actor.user_id,
            via=actor.via,
            action=change.action,
            resource=change.resource,
            resource_id=change.resource_id,
            resource_name=change.name[:200],
            changes=msgspec.json.encode(changes).decode(),
        )
    ).run()


class AuditActor(msgspec.Struct):
    name: str
    """The username, `admin key`, `cli` or `system`."""
    via: Literal["api", "ui", "cli", "system"]
    user_id: str | None


class AuditEvent(msgspec.Struct):
    """One catalog change."""

    id: str
    ts: str
    actor: AuditActor
    action: Action
    resource: Resource
    resource_id: str
    resource_name: str
    changes: dict[str, Any]
    """create: the new object's fields; update and rotate: `{field: {from, to}}` for what changed; secrets
    as "(set)", "(replaced)" or "(removed)"; a delete may say what else it changed."""


def _event(row: dict[str, Any]) -> AuditEvent:
    changes = row["changes"]
    return AuditEvent(
        id=row["id"],
        ts=_plain(row["ts"]),
        actor=AuditActor(row["actor"], row["via"], row["actor_user_id"]),
        action=row["action"],
        resource=row["resource"],
        resource_id=row["resource_id"],
        resource_name=row["resource_name"],
        changes=msgspec.json.decode(changes) if isinstance(changes, str | bytes) else dict(changes or {}),
    )


async def list_events(
    *,
    resource: str | None = None,
    resource_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[AuditEvent], int]:
    """Newest first, filtered by any of the four."""
    filters = [
        column == value
        for column, value in (
            (AuditRow.resource, resource),
            (AuditRow.resource_id, resource_id),
            (AuditRow.actor, actor),
            (AuditRow.action, action),
        )
        if value is not None
    ]
    rows, total = await list_rows(AuditRow, filters, [AuditRow.ts, AuditRow.id], limit, offset, newest_first=True)
    return [_event(r) for r in rows], total
