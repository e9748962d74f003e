"""ANY /vendors/{provider}/{path}: a provider's native API through our key, plan and accounting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from app.api.asgi_io import header_dict, internal_error, new_request_id, read_body, send_problem, send_reply
from app.api.problem import Dialect
from app.errors import GatewayError, NotFoundError
from app.gateway.call import Reply
from app.gateway.tracing import trace_from_header
from app.gateway.vendor import VendorCall
from app.observability.request import observe_request

__all__ = ["vendors_app"]


def vendors_app(
    handle: Callable[[VendorCall], Awaitable[Reply]], max_body_bytes: int, tracker: Any = None
) -> Callable[[dict[str, Any], Any, Any], Awaitable[None]]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = header_dict(scope)
        trace = trace_from_header(headers.get("traceparent"))
        request_id = new_request_id(headers)
        # The raw path, exactly as sent: the mounted scope's path is normalised (prefix cut, slash added).
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        rest = raw_path.split("/vendors/", 1)[1] if "/vendors/" in raw_path else ""
        provider_ref, _, path = rest.partition("/")
        dialect: Dialect = "anthropic" if provider_ref == "anthropic" or "messages" in path else "openai"
        observed = observe_request(scope, "vendor", request_id, trace, time.perf_counter())
        send = observed.watch(send)
        if tracker is not None:
            tracker.enter()
        try:
            try:
                if not provider_ref:
                    raise NotFoundError("Name a provider: /vendors/{provider}/{path}")
                body = await read_body(receive, headers, max_body_bytes)
                call = VendorCall(
                    scope["method"],
                    provider_ref,
                    path,
                    scope.get("query_string", b"").decode(),
                    headers,
                    body,
                    trace,
                    request_id,
                )
                reply = await handle(call)
            except GatewayError as exc:
                await send_problem(send, exc, dialect, trace, request_id)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never a bare 500: render a problem document
                await send_problem(send, internal_error(exc), dialect, trace, request_id)
                return
            await send_reply(send, receive, reply, trace, request_id)
        finally:
            observed.close()
            if tracker is not None:
                tracker.leave()

    return app
