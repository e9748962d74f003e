"""/ui/audit: the audit log, newest first, narrowed by resource, object or actor."""

from __future__ import annotations

from typing import Any, get_args

from litestar import Controller, Request, get
from litestar.response import Template

from app.catalog import audit
from app.catalog.audit import Resource
from app.ui_support.render import page

__all__ = ["AuditController"]

PAGE_SIZE = 100
RESOURCES: tuple[str, ...] = get_args(Resource)


class AuditController(Controller):
    path = "/audit"

    @get("/", name="ui-audit")
    async def index(
        self, request: Request[Any, Any, Any], resource: str = "", resource_id: str = "", actor: str = ""
    ) -> Template:
        events, total = await audit.list_events(
            resource=resource if resource in RESOURCES else None,
            resource_id=resource_id[:40] or None,
            actor=actor[:200] or None,
            limit=PAGE_SIZE,
        )
        context: dict[str, Any] = {
            "resource": resource,
            "resource_id": resource_id,
            "actor": actor,
            "resources": RESOURCES,
        }
        return page(request, "audit/index.html", events=events, total=total, **context)
