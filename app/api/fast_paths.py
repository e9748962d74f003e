"""An ASGI front door that sends the hot inference paths straight to their handlers.

Everything else (management API, UI, lifespan) goes through Litestar. The inference handlers
are raw ASGI apps that already render their own problems, so skipping Litestar's router and
middleware stack for them changes nothing but the cost. The same goes for the proxy-headers
rewrite: only the UI reads the client's address (to throttle sign-ins), so `X-Forwarded-For`
is applied to the Litestar side alone, not to every inference call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["FastPaths"]

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class FastPaths:
    __slots__ = ("app", "routes", "sockets", "state")

    def __init__(
        self,
        app: Any,
        routes: dict[str, ASGIApp],
        *,
        sockets: dict[str, ASGIApp] | None = None,
        forwarded_allow_ips: str | None = None,
    ) -> None:
        """`forwarded_allow_ips`: trust `X-Forwarded-For`/`-Proto` from these peers on the Litestar side
        (uvicorn's setting of the same name; the server's own rewrite is off, see `cli._serve_uvicorn`)."""
        self.state = app.state
        if forwarded_allow_ips is not None:
            from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

            app = ProxyHeadersMiddleware(app, trusted_hosts=forwarded_allow_ips)
        self.app = app
        self.routes = routes
        self.sockets = sockets or {}
        """WebSocket paths (the Realtime API) and their raw ASGI handlers."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            handler = self.routes.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        elif scope["type"] == "websocket":
            handler = self.sockets.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await self.app(scope, receive, send)
