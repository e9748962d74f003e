"""The usage explorer and request log: who may see what, and the /v1/usage filters read from a query string.

Filters are parsed by the same helpers as `/v1/usage` (times, status classes, group-by names), so
the page and the API accept the same values and say the same things about bad ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from app.accounting import queries
from app.accounting.queries import RequestRecord, UsageFilter
from app.api.admin.usage import parse_group_by, parse_status, parse_time
from app.catalog.services import api_keys
from app.errors import InvalidRequestError, NotFoundError
from app.ui_support.playground import playground_key_id
from app.ui_support.session import Viewer

__all__ = [
    "STATUS_CHOICES",
    "UsageQuery",
    "key_names",
    "request_by_id",
    "usage_filter",
    "usage_query",
    "viewer_scope",
]

STATUS_CHOICES: tuple[tuple[str, str], ...] = (
    ("", "Any status"),
    ("success", "Succeeded"),
    ("error", "Failed"),
    ("4xx", "4xx"),
    ("5xx", "5xx"),
    ("429", "429 (rate limited)"),
)
_TEXT_FIELDS = ("key_id", "plan", "model", "provider", "status", "from", "to", "end_user", "tag", "team")


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """The explorer's filters as typed in the page (strings), echoed back into the form and links."""

    values: dict[str, str] = field(default_factory=dict)
    group_by: list[str] = field(default_factory=list)

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def query_string(self) -> str:
        pairs = [(k, v) for k, v in self.values.items() if v] + [("group_by", g) for g in self.group_by]
        return urlencode(pairs)


def usage_query(params: Mapping[str, Any], multi: list[tuple[str, str]], *, default_days: int | None = 7) -> UsageQuery:
    """`default_days`: the `from` a fresh page starts with (None: no lower bound)."""
    values = {name: str(params.get(name) or "").strip()[:200] for name in _TEXT_FIELDS}
    if "from" not in params and default_days is not None:
        values["from"] = (datetime.now(UTC) - timedelta(days=default_days)).date().isoformat()
    groups = [v for k, v in multi if k == "group_by"]
    return UsageQuery(values, parse_group_by(groups) if groups or "group_by" in params else ["day"])


async def viewer_scope(viewer: Viewer) -> frozenset[str] | None:
    """Admins see everything; a user sees their keys (revoked ones too) and their playground."""
    if viewer.is_admin:
        return None
    return await queries.user_key_ids(viewer.user_id or "") | {playground_key_id(viewer)}


async def usage_filter(q: UsageQuery, scope: frozenset[str] | None) -> UsageFilter:
    key_id = q.get("key_id") or None
    if key_id is not None and scope is not None and key_id not in scope:
        raise NotFoundError(f"No API key with id '{key_id}'")
    start, end = parse_time(q.get("from"), "from"), parse_time(q.get("to"), "to")
    if start is not None and end is not None and start >= end:
        raise InvalidRequestError("'from' must be before 'to'", param="from")
    return UsageFilter(
        key_id=key_id,
        plan=q.get("plan") or None,
        model=q.get("model") or None,
        provider=q.get("provider") or None,
        status=parse_status(q.get("status")),
        start=start,
        end=end,
        scope=scope,
        end_user=q.get("end_user") or None,
        tag=q.get("tag") or None,
        team=q.get("team") or None,
    )


async def key_names(viewer: Viewer) -> dict[str, str]:
    """key id -> name for the viewer's keys (every key for admins; a team admin's teams' too), playground included."""
    scope = await api_keys.key_scope(viewer.user_id or "-", admin=viewer.is_admin)
    found, _ = await api_keys.list_keys(**scope._asdict(), limit=500)
    names = {k.id: k.name for k in found}
    names[playground_key_id(viewer)] = "Playground"
    return names


async def request_by_id(request_id: str, scope: frozenset[str] | None) -> RequestRecord:
    """One request of the log, if the viewer may see it (a 404 either way, so ids cannot be probed)."""
    record = await queries.request_by_id(request_id, scope)
    if record is None:
        raise NotFoundError(f"No request with id '{request_id}'")
    return record
