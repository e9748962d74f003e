"""The shared shape of every inference endpoint: read, build a Call, run the pipeline, reply."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from app.api.asgi_io import header_dict, internal_error, new_request_id, read_body, send_problem, send_reply
from app.api.problem import Dialect
from app.errors import GatewayError, MethodNotAllowedError
from app.gateway.call import Call, Parsed, Reply
from app.gateway.tracing import trace_from_header
from app.observability.request import observe_request

__all__ = ["ASGIApp", "inference_app"]

log = logging.getLogger("polyroute.api")

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def inference_app(
    *,
    endpoint: str,
    dialect: Dialect,
    parse: Callable[[bytes], Parsed],
    handle: Callable[[Call], Awaitable[Reply]],
    max_body_bytes: int,
    tracker: Any = None,
    respond_async: Callable[[Call], Awaitable[Reply | None]] | None = None,
) -> ASGIApp:
    """An ASGI app for one POST endpoint; `tracker` counts in-flight requests for draining.

    `respond_async` sees calls that carry a `Prefer` header and may answer 202 with a task instead.
    """

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        received = time.perf_counter()
        headers = header_dict(scope)
        trace = trace_from_header(headers.get("traceparent"))
        request_id = new_request_id(headers)
        observed = observe_request(scope, endpoint, request_id, trace, received)  # log ids, span, access line
        if tracker is not None:
            tracker.enter()
        after: list[Callable[[], object]] = []
        try:
            try:
                if scope["method"] != "POST":
                    raise MethodNotAllowedError(f"{scope['method']} is not allowed here; use POST")
                raw = await read_body(receive, headers, max_body_bytes)
                call = Call(endpoint, dialect, headers, raw, parse, trace, request_id, received, after=after)
                if "prefer" in headers and respond_async is not None:
                    reply = await respond_async(call) or await handle(call)
                else:
                    reply = await handle(call)
            except GatewayError as exc:
                observed.note(exc.status_code, exc.error_code)
                await send_problem(send, exc, dialect, trace, request_id)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = internal_error(exc)
                observed.note(error.status_code, error.error_code)
                await send_problem(send, error, dialect, trace, request_id)
                return
            observed.note_start(reply.status, reply.headers)
            await send_reply(send, receive, reply, trace, request_id)
        finally:
            for work in after:  # the usage event of an answer: written or not, the call happened
                try:
                    work()
                except Exception:
                    log.exception("finishing request %s failed", request_id)
            # The closures hold the pipeline's context, which holds the call, which holds this list:
            # emptying it lets reference counting free the lot now instead of the cycle collector later.
            after.clear()
            observed.close()  # after the usage event: the access line names its provider and model
            if tracker is not None:
                tracker.leave()

    return app
