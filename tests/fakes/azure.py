"""A fake Azure OpenAI resource: FakeOpenAI's behaviours behind Azure's two URL schemes and its `api-key`.

- v1 API: `/openai/v1/<path>` (the deployment is the body's `model`), `api-version` optional;
- deployment API: `/openai/deployments/{deployment}/<path>?api-version=V`, and the paths that are not
  per deployment at `/openai/<path>?api-version=V` (responses, models). An unknown or missing
  `api-version` there is Azure's 404 "Resource not found"; one older than 2024-09-01 refuses `stream_options`.

Every request needs `api-key: <the fake's key>` (a Bearer token is not accepted: Azure would take it for
an Entra ID token); otherwise 401 in Azure's error shape. `deployments` records, per request, the
deployment named in the path. Model-name behaviours and scripts are FakeOpenAI's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.openai import FakeOpenAI

__all__ = ["API_VERSIONS", "FakeAzure"]

API_VERSIONS = frozenset({"2024-02-01", "2024-10-21", "2025-04-01-preview"})
STREAM_OPTIONS_SINCE = "2024-09-01"
"""Older api-versions refuse `stream_options`, as Azure's did."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _azure_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"code": str(status), "message": message}}, status=status)


@dataclass
class FakeAzure(FakeOpenAI):
    api_key: str = "azure-upstream-secret"
    deployments: list[str] = field(default_factory=list)

    def routes(self, app: web.Application) -> None:
        inner = web.Application()
        FakeOpenAI.routes(self, inner)
        app.middlewares.append(self._azure)
        for resource in inner.router.resources():
            path = resource.canonical.removeprefix("/v1")
            for route in resource:
                handler: Handler = route.handler  # type: ignore[assignment]
                app.router.add_route(route.method, "/openai/v1" + path, handler)
                app.router.add_route(route.method, "/openai" + path, handler)
                app.router.add_route(route.method, "/openai/deployments/{deployment}" + path, handler)

    @web.middleware
    async def _azure(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("api-key") != self.api_key:
            return _azure_error(
                401,
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
                "valid key for an active subscription and use a correct regional API endpoint for your resource.",
            )
        if not request.path.startswith("/openai/v1/"):
            if request.query.get("api-version") not in API_VERSIONS:
                return _azure_error(404, "Resource not found")
            deployment = request.match_info.get("deployment")
            if deployment is not None:
                self.deployments.append(deployment)
            if request.query["api-version"] < STREAM_OPTIONS_SINCE and b'"stream_options"' in await request.read():
                return _azure_error(400, "Unrecognized request argument supplied: stream_options")
        return await handler(request)

    def reset(self) -> None:
        super().reset()
        self.deployments.clear()
