"""The httpx clients for the process's own outbound calls: task webhooks, job polls, provider batch APIs.

Most gateways never make such a call, and an httpx client builds its TLS context (the CA bundle
loaded, ~1.6 MB per client) when it is made. These clients make their connection pool, and so that
context, on their first request instead.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["outbound_client"]


class _OnFirstUse(httpx.AsyncBaseTransport):
    """httpx's own transport with its defaults, made when the first request goes out."""

    def __init__(self) -> None:
        self._real: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._real is None:
            self._real = httpx.AsyncHTTPTransport()
        return await self._real.handle_async_request(request)

    async def aclose(self) -> None:
        if self._real is not None:
            await self._real.aclose()
            self._real = None


def outbound_client(**options: Any) -> httpx.AsyncClient:
    """An `httpx.AsyncClient(**options)` whose transport is made on its first request."""
    return httpx.AsyncClient(transport=_OnFirstUse(), **options)
