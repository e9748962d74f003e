"""/ui/alerts: budget alerts raised, newest first, with how each was delivered."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from app.alerts import store
from app.runtime import Runtime
from app.ui_support.render import page

__all__ = ["AlertsController"]

PAGE_SIZE = 100


class AlertsController(Controller):
    path = "/alerts"

    @get("/", name="ui-alerts")
    async def index(self, request: Request[Any, Any, Any], rt: Runtime, key_id: str = "") -> Template:
        alerts, total = await store.list_alerts(kind=None, key_id=key_id or None, limit=PAGE_SIZE, offset=0)
        webhook = rt.settings.alert_webhook_url is not None
        return page(request, "alerts/index.html", alerts=alerts, total=total, key_id=key_id, webhook=webhook)
