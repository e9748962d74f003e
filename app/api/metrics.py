"""GET /metrics: Prometheus text format for the whole server (every worker), optionally behind a bearer token."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request, Response, get

from app.errors import AuthenticationError
from app.observability.lifecycle import gauge_sources
from app.observability.metrics import CONTENT_TYPE, exposition, gateway_metrics

__all__ = ["metrics_handlers"]


def _authorized(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    rt = request.app.state.runtime
    token = rt.settings.metrics_token
    if token and not _authorized(request.headers.get("authorization"), token):
        raise AuthenticationError("GET /metrics needs the metrics token as a Bearer token")
    gateway_metrics().sample(gauge_sources(rt))
    return Response(exposition(), media_type=CONTENT_TYPE.split(";")[0], headers={"content-type": CONTENT_TYPE})


def metrics_handlers() -> list[Any]:
    return [metrics]
