"""A webhook receiver: records every delivery (task webhooks, alerts), and can be told to fail."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer

__all__ = ["WebhookReceiver"]


@dataclass
class WebhookReceiver(FakeServer):
    """Records every webhook; answers `fail_with` for the next `failures` deliveries, then 204."""

    failures: int = 0
    fail_with: int = 503
    arrivals: list[float] = field(default_factory=list)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/hook/{name}", self.hook)

    async def hook(self, request: web.Request) -> web.Response:
        self.arrivals.append(time.monotonic())
        if self.failures > 0:
            self.failures -= 1
            return web.Response(status=self.fail_with)
        return web.Response(status=204)

    def for_task(self, task_id: str) -> list[Any]:
        return [r for r in self.received if json.loads(r.body).get("id") == task_id]
