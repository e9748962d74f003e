"""/ui/playground: chat with any model the viewer's plan allows, streamed through the real pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Stream, Template

from app.errors import GatewayError
from app.gateway.resolve import model_allowed
from app.runtime import Inflight, Runtime
from app.ui_support.playground import build_call, playground_key, summarised
from app.ui_support.render import page
from app.ui_support.session import Viewer

__all__ = ["PlaygroundController"]


async def _tracked(stream: AsyncIterator[bytes], inflight: Inflight) -> AsyncIterator[bytes]:
    """Counted as in flight, so a graceful shutdown lets the answer finish."""
    inflight.enter()
    try:
        async for chunk in stream:
            yield chunk
    finally:
        inflight.leave()


class PlaygroundController(Controller):
    path = "/playground"

    @get("/", name="ui-playground")
    async def index(self, request: Request[Any, Any, Any], rt: Runtime, viewer: Viewer) -> Template:
        snapshot = rt.catalog.snapshot
        try:
            key = playground_key(viewer, snapshot)
        except GatewayError as exc:
            return page(request, "playground/index.html", models=[], problem=exc.detail)
        names = sorted(name for name, r in snapshot.models.items() if name == r.name and model_allowed(key, name))
        return page(request, "playground/index.html", models=names, problem=None)

    @post("/chat", name="ui-playground-chat")
    async def chat(self, request: Request[Any, Any, Any], rt: Runtime, viewer: Viewer) -> Response[Any]:
        """JSON in (model, messages, temperature, max_tokens); SSE out, ending with a `polyroute` summary event."""
        try:
            call = build_call(await request.body(), playground_key(viewer, rt.catalog.snapshot))
            reply = await rt.gateway.handle(call)
        except GatewayError as exc:
            error = {"message": exc.detail, "code": exc.error_code, "status": exc.status_code}
            return Response({"error": error}, status_code=exc.status_code)
        stream = _tracked(summarised(call, reply, rt.catalog.snapshot), rt.inflight)
        headers = {"x-request-id": call.request_id, "x-accel-buffering": "no"}
        return Stream(stream, media_type="text/event-stream", headers=headers)
