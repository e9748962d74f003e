"""The request being handled in this task: its ids for log records, its span, and its usage event."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from app.accounting.events import UsageEvent

__all__ = ["RequestState", "current_request", "record_event"]


@dataclass(slots=True, eq=False)
class RequestState:
    """Set by the inference endpoint wrapper for the life of one request (streams included)."""

    request_id: str
    trace_id: str
    endpoint: str
    event: UsageEvent | None = None
    """The usage event the pipeline enqueued for this request, if it got that far."""
    server_span: Any = None
    open_spans: list[Any] = field(default_factory=list)
    """Attempt spans of a stream that started; they end with the request."""


current_request: ContextVar[RequestState | None] = ContextVar("polyroute_request", default=None)


def record_event(event: UsageEvent) -> None:
    """Usage-queue observer: remember the event on the request it belongs to (a no-op elsewhere)."""
    state = current_request.get()
    if state is None:
        return
    # A caller's own x-request-id is kept in the detail: the row id is always the gateway's.
    if state.request_id == event.id or (event.detail or {}).get("client_request_id") == state.request_id:
        state.event = event
