"""ANY /mcp/{server}: an MCP server's Streamable HTTP endpoint through our key, plans and accounting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from app.api.asgi_io import header_dict, internal_error, new_request_id, read_body, send_problem, send_reply
from app.errors import GatewayError, NotFoundError
from app.gateway.call import Reply
from app.gateway.mcp import McpCall
from app.gateway.tracing import trace_from_header

__all__ = ["mcp_app"]


def mcp_app(
    handle: Callable[[McpCall], Awaitable[Reply]], max_body_bytes: int, tracker: Any = None
) -> Callable[[dict[str, Any], Any, Any], Awaitable[None]]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = header_dict(scope)
        trace = trace_from_header(headers.get("traceparent"))
        request_id = new_request_id(headers)
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        server = raw_path.split("/mcp/", 1)[1].strip("/") if "/mcp/" in raw_path else ""
        if tracker is not None:
            tracker.enter()
        try:
            try:
                if not server or "/" in server:
                    raise NotFoundError("Name an MCP server: /mcp/{server}")
                body = await read_body(receive, headers, max_body_bytes)
                reply = await handle(McpCall(scope["method"], server, headers, body, trace, request_id))
            except GatewayError as exc:
                await send_problem(send, exc, "openai", trace, request_id)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never a bare 500: a problem document
                await send_problem(send, internal_error(exc), "openai", trace, request_id)
                return
            await send_reply(send, receive, reply, trace, request_id)
        finally:
            if tracker is not None:
                tracker.leave()

    return app
