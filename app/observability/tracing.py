"""OpenTelemetry hooks for the endpoint wrapper and the attempt loop; each is a no-op unless `start` enabled it.

Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set
and the `otel` extra is installed. One server span per inference request (its id is the span
id of our `traceparent` response header) and one client span per upstream attempt (its id is
the span id sent upstream), all in the caller's trace.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from app.gateway.tracing import TraceContext
from app.observability.context import RequestState, current_request

if TYPE_CHECKING:
    from app.gateway.attempt_outcomes import AttemptRecord, Target
    from app.observability.otel import OtelTracer

__all__ = ["attempt_span", "enabled", "end_request", "shutdown", "start", "start_request"]

log = logging.getLogger("polyroute.tracing")

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_OPERATIONS = {
    "chat.completions": "chat",
    "completions": "text_completion",
    "messages": "chat",
    "responses": "chat",
    "embeddings": "embeddings",
}

_active: OtelTracer | None = None


def start(environ: Mapping[str, str], processor: Any = None) -> bool:
    """Enable tracing for this process when the environment asks for it and the SDK is installed.

    `processor` (an OTel SpanProcessor) replaces the OTLP exporter; tests use it.
    """
    global _active
    if _active is not None:
        return True
    if not any(environ.get(v) for v in _ENDPOINT_VARS) or environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    try:
        from app.observability.otel import OtelTracer
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the 'otel' extra is not installed; tracing is off")
        return False
    _active = OtelTracer(environ.get("OTEL_SERVICE_NAME") or "polyroute", processor)
    return True


def enabled() -> bool:
    return _active is not None


def shutdown() -> None:
    """Flush and stop the exporter (blocking; call it off the event loop)."""
    global _active
    tracer, _active = _active, None
    if tracer is not None:
        tracer.shutdown()


def start_request(state: RequestState, trace: TraceContext, method: str, path: str) -> None:
    """Open the request's server span (kept on `state`)."""
    if _active is None:
        return
    attributes = {
        "http.request.method": method,
        "url.path": path,
        "gen_ai.operation.name": _OPERATIONS.get(state.endpoint, state.endpoint),
        "polyroute.request_id": state.request_id,
    }
    state.server_span = _active.start_server(trace, f"{method} {path}", attributes)


def end_request(state: RequestState, status: int) -> None:
    """Close the server span with the response status and what the usage event says about the request."""
    span = state.server_span
    if span is None or _active is None:
        return
    for attempt in state.open_spans:
        _active.finish(attempt, {})
    attributes: dict[str, Any] = {"http.response.status_code": status}
    event = state.event
    if event is not None:
        attributes.update(
            {
                "gen_ai.usage.input_tokens": event.usage.prompt_tokens,
                "gen_ai.usage.output_tokens": event.usage.completion_tokens,
                "polyroute.attempts": event.attempts,
                "polyroute.cost_usd": event.cost_usd,
            }
        )
        optional = {
            "gen_ai.request.model": event.requested_model,
            "gen_ai.response.model": f"{event.provider}/{event.model}" if event.provider else None,
            "polyroute.provider": event.provider,
            "polyroute.route": event.route,
            "error.type": event.error_code,
        }
        attributes.update({k: v for k, v in optional.items() if v is not None})
    _active.finish(span, attributes, f"HTTP {status}" if status >= 500 else None)


class _Untraced:
    """What `attempt_span` returns when tracing is off: just the child context to send upstream."""

    __slots__ = ("child",)

    def __init__(self, child: TraceContext) -> None:
        self.child = child

    def __enter__(self) -> TraceContext:
        return self.child

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class _AttemptSpan(_Untraced):
    __slots__ = ("model", "span", "stream")

    def __init__(self, child: TraceContext, span: Any, stream: bool, model: str) -> None:
        super().__init__(child)
        self.span = span
        self.stream = stream
        self.model = model

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert _active is not None
        if exc is None:
            done: dict[str, Any] = {"http.response.status_code": 200, "gen_ai.response.model": self.model}
            state = current_request.get()
            if self.stream and state is not None and state.server_span is not None:
                self.span.set_attributes(done)
                state.open_spans.append(self.span)  # a started stream: the attempt lasts until it ends
            else:
                _active.finish(self.span, done)
            return
        status = getattr(exc, "status", None)
        kind = getattr(exc, "cls", None) or type(exc).__name__
        attributes: dict[str, Any] = {"error.type": kind}
        if status is not None:
            attributes["http.response.status_code"] = status
        _active.finish(self.span, attributes, getattr(exc, "message", None) or str(exc) or kind)


def attempt_span(
    trace: TraceContext, target: Target, retry: int, records: Sequence[AttemptRecord], stream: bool
) -> _Untraced:
    """`with attempt_span(...) as child:` one upstream attempt; `child` is the context to send upstream."""
    child = trace.child()
    if _active is None:
        return _Untraced(child)
    provider = target.provider
    attributes: dict[str, Any] = {
        "gen_ai.request.model": target.candidate.model,
        "gen_ai.provider.name": provider.kind,
        "polyroute.provider": provider.name,
        "polyroute.attempt": 1 + sum(1 for r in records if r.outcome != "skipped"),
        "polyroute.retry": retry,
    }
    url = urlsplit(provider.base_url)
    if url.hostname:
        attributes["server.address"] = url.hostname
        if url.port:
            attributes["server.port"] = url.port
    state = current_request.get()
    operation = _OPERATIONS.get(state.endpoint, state.endpoint) if state is not None else "chat"
    span = _active.start_client(child, f"{operation} {target.candidate.model}", attributes)
    return _AttemptSpan(child, span, stream, target.candidate.model)
