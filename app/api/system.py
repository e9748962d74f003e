"""/healthz (alive) and /readyz (ready to serve: catalog loaded, not draining; and the event loop in use)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get

__all__ = ["system_handlers"]


@get("/healthz", include_in_schema=False, sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/health", include_in_schema=False, sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", include_in_schema=False, sync_to_thread=False)
def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    rt = request.app.state.runtime
    ready = rt.ready and rt.catalog.snapshot.version > 0
    body = {
        "status": "ready" if ready else "not ready",
        "catalog_version": rt.catalog.snapshot.version,
        "database": "ok" if rt.catalog.healthy else "unreachable (serving cached catalog)",
        # The loop this worker really runs on ("asyncio" or "uvloop"), whatever POLYROUTE_LOOP asked for.
        "loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
    }
    return Response(body, status_code=200 if ready else 503)


def system_handlers() -> list[Any]:
    return [healthz, health, readyz]
