"""GET /v1/audit: who changed which provider, route, plan, key, user or team, when, and what changed."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from app.api.admin.schemas import AuditPage, Limit, Offset, problems
from app.catalog import audit
from app.catalog.audit import Action, Resource

__all__ = ["AuditController"]


class AuditController(Controller):
    path = "/v1/audit"
    tags = ["audit"]

    @get("/", responses=problems(400, 401, 403, 422))
    async def list_events(
        self,
        resource: Resource | None = None,
        resource_id: Annotated[str | None, Parameter(max_length=40)] = None,
        actor: Annotated[str | None, Parameter(max_length=200, description="A username, `admin key` or `cli`")] = None,
        action: Action | None = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> AuditPage:
        """Catalog changes, newest first, filterable by resource, object, actor and action."""
        found, total = await audit.list_events(
            resource=resource, resource_id=resource_id, actor=actor, action=action, limit=limit, offset=offset
        )
        return AuditPage(data=found, total=total, limit=limit, offset=offset)
