"""An ASGI front door that sends the hot inference paths straight to their handlers.

Everything else (management API, UI, lifespan) goes through Litestar. The inference handlers
are raw ASGI apps that already render their own problems, so skipping Litestar's router and
middleware stack for them changes nothing but the cost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["FastPaths"]

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class FastPaths:
    __slots__ = ("app", "routes", "state")

    def __init__(self, app: Any, routes: dict[str, ASGIApp]) -> None:
        self.app = app
        self.routes = routes
        self.state = app.state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            handler = self.routes.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await self.app(scope, receive, send)
