"""One inference request's observability, opened and closed by the endpoint wrapper.

Opening binds the request and trace ids for log records and starts the server span; closing
(after the last byte, streams included) counts a refusal that never became a usage event,
writes the access-log line and ends the span. It costs a contextvar, a wrapped `send` and
one tuple handed to the log writer per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from app.gateway.tracing import TraceContext
from app.observability import tracing
from app.observability.context import RequestState, current_request
from app.observability.logging import ACCESS_LOGGER, AccessLine, log_access
from app.observability.metrics import gateway_metrics

__all__ = ["ObservedRequest", "observe_request"]

access_log = logging.getLogger(ACCESS_LOGGER)
log = logging.getLogger("polyroute.observability")
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ObservedRequest:
    """The endpoint wrapper's handle: `watch(send)` once, `close()` in its `finally`."""

    __slots__ = ("_token", "code", "method", "path", "received", "state", "status")

    def __init__(self, scope: dict[str, Any], state: RequestState, trace: TraceContext, received: float) -> None:
        self.method: str = scope.get("method", "")
        self.path: str = scope.get("path", "")
        self.state = state
        self.received = received
        self.status = 0
        self.code = ""
        self._token = current_request.set(state)
        tracing.start_request(state, trace, self.method, self.path)

    def watch(self, send: Send) -> Send:
        """`send`, noting the response status and error code as they go out."""

        async def watched(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.note_start(message["status"], message.get("headers", ()))
            await send(message)

        return watched

    def note(self, status: int, code: str = "") -> None:
        """The response's status and error code, for a caller that sends it unwrapped (one coroutine
        layer less on every send)."""
        self.status = status
        self.code = code

    def note_start(self, status: int, headers: Any) -> None:
        """`note` from a response's status and headers (its error code is the `x-error-code` header)."""
        self.note(status, _header(headers, b"x-error-code") if status >= 400 else "")

    def close(self) -> None:
        """Count, log and end the span; never raises (it runs in the endpoint's `finally`)."""
        state = self.state
        status = self.status or 499  # nothing was sent: the client went away first
        try:
            if state.event is None and self.status >= 400:
                gateway_metrics().reject(self.code or f"HTTP_{self.status}")
            if access_log.isEnabledFor(logging.INFO):
                self._access(status)
            tracing.end_request(state, status)
        except Exception:
            log.exception("observing request %s failed", state.request_id)
        finally:
            current_request.reset(self._token)

    def _access(self, status: int) -> None:
        state = self.state
        event = state.event
        log_access(
            AccessLine(
                time.time(),
                self.method,
                self.path,
                status,
                round((time.perf_counter() - self.received) * 1000, 1),
                event.provider if event else None,
                event.model if event else None,
                (event.error_code if event else None) or self.code or None,
                state.request_id,
                state.trace_id,
            )
        )


def _header(headers: Any, name: bytes) -> str:
    for key, value in headers:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def observe_request(
    scope: dict[str, Any], endpoint: str, request_id: str, trace: TraceContext, received: float
) -> ObservedRequest:
    """Start observing one inference request in the current task."""
    return ObservedRequest(scope, RequestState(request_id, trace.trace_id, endpoint), trace, received)
