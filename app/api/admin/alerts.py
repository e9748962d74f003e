"""GET /v1/alerts: the alerts raised (budget thresholds crossed) and how each was delivered."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post

from app.alerts import store
from app.alerts.store import AlertType
from app.api.admin.schemas import AlertPage, Limit, Offset, problems

__all__ = ["AlertController"]


class TestDelivery(msgspec.Struct):
    """How the test alert went: one attempt, no retries."""

    delivered: bool
    attempts: int
    last_status: int | None
    """The receiver's HTTP status; None when it was unreachable."""


class AlertController(Controller):
    path = "/v1/alerts"
    tags = ["alerts"]

    @get("/", responses=problems(400, 401, 403, 422))
    async def list_alerts(
        self,
        type: AlertType | None = None,
        key_id: str | None = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> AlertPage:
        """Alerts, newest first, filterable by type and key."""
        found, total = await store.list_alerts(kind=type, key_id=key_id, limit=limit, offset=offset)
        return AlertPage(data=found, total=total, limit=limit, offset=offset)

    @post("/test", status_code=200, responses=problems(401, 403, 409))
    async def send_test(self, request: Request[Any, Any, Any]) -> TestDelivery:
        """POST a `test` alert to the configured webhook (one attempt, nothing recorded): 409 when none is set."""
        sent = await request.app.state.runtime.alerts.send_test()
        return TestDelivery(delivered=sent.delivered, attempts=sent.attempts, last_status=sent.last_status)
