"""Raw ASGI plumbing for the inference endpoints: bounded body reads, replies, streams, problems.

The hot endpoints are Litestar ASGI route handlers rather than typed handlers: they need the
raw bytes (for passthrough), an early 413 without reading an oversized body, and streams
that notice a client that went away.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from app.api.problem import Dialect, problem_body, problem_headers
from app.errors import GatewayError, InternalError, PayloadTooLargeError
from app.gateway.call import Reply
from app.gateway.exchange import StreamAborted
from app.gateway.tracing import TraceContext
from app.ids import request_id

__all__ = ["header_dict", "new_request_id", "read_body", "send_problem", "send_reply"]

log = logging.getLogger("polyroute.api")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,100}$")

Scope = dict[str, Any]


def header_dict(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def new_request_id(headers: dict[str, str]) -> str:
    given = headers.get("x-request-id")
    if given and _REQUEST_ID.match(given):
        return given
    return request_id()


async def read_body(receive: Any, headers: dict[str, str], limit: int) -> bytes:
    """The whole body, refusing with 413 as soon as it is known to exceed `limit`."""
    declared = headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLargeError(f"Request body of {declared} bytes exceeds the limit of {limit} bytes")
        except ValueError:
            pass
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError("client disconnected while sending the body")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(f"Request body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _base_headers(trace: TraceContext, request_id: str) -> list[tuple[bytes, bytes]]:
    return [(b"x-request-id", request_id.encode()), (b"traceparent", trace.traceparent.encode())]


async def send_problem(send: Any, exc: GatewayError, dialect: Dialect, trace: TraceContext, request_id: str) -> None:
    body = problem_body(exc, dialect, trace.trace_id)
    headers = problem_headers(exc) + _base_headers(trace, request_id)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _watch_disconnect(receive: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _stream(send: Any, receive: Any, chunks: AsyncIterator[bytes]) -> None:
    """Send chunks until the end; a client disconnect cancels the wait on the upstream at once."""
    task = asyncio.current_task()
    state = {"streaming": True, "gone": False}

    def on_disconnect(_: asyncio.Future[None]) -> None:
        if state["streaming"] and task is not None:
            state["gone"] = True
            task.cancel()

    watcher = asyncio.ensure_future(_watch_disconnect(receive))
    watcher.add_done_callback(on_disconnect)
    try:
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        state["streaming"] = False
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if not state["gone"]:
            raise
        if task is not None:
            task.uncancel()
    except OSError:
        pass  # the client went away mid-send; the generator's finally accounts for it
    except StreamAborted as exc:
        # Returning without the final empty body makes the server abort the response (an
        # unfinished chunked body); raising instead would have it log a traceback.
        error = exc.error
        log.warning(
            "stream aborted: %s", error.detail, extra={"error_code": error.error_code, "status": error.status_code}
        )
    finally:
        state["streaming"] = False
        watcher.cancel()
        await chunks.aclose()  # type: ignore[attr-defined]


async def send_reply(send: Any, receive: Any, reply: Reply, trace: TraceContext, request_id: str) -> None:
    headers = reply.headers + _base_headers(trace, request_id)
    if reply.stream is None:
        headers.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})
        return
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await _stream(send, receive, reply.stream)


def internal_error(exc: BaseException) -> GatewayError:
    log.exception("unhandled error in an inference endpoint", exc_info=exc)
    return InternalError("The gateway hit an unexpected error; it has been logged")
