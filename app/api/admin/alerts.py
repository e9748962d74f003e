"""GET /v1/alerts: the alerts raised (budget thresholds crossed) and how each was delivered."""

from __future__ import annotations

from typing import Literal

from litestar import Controller, get

from app.alerts import store
from app.api.admin.schemas import AlertPage, Limit, Offset, problems

__all__ = ["AlertController"]


class AlertController(Controller):
    path = "/v1/alerts"
    tags = ["alerts"]

    @get("/", responses=problems(400, 401, 403, 422))
    async def list_alerts(
        self,
        type: Literal["budget.threshold"] | None = None,
        key_id: str | None = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> AlertPage:
        """Alerts, newest first, filterable by type and key."""
        found, total = await store.list_alerts(kind=type, key_id=key_id, limit=limit, offset=offset)
        return AlertPage(data=found, total=total, limit=limit, offset=offset)
