"""The OpenTelemetry SDK behind `tracing`: an OTLP/HTTP batch exporter and spans that carry our own ids.

Imported only when tracing is enabled, so the `otel` extra stays optional. The SDK is told
which ids to use through a preset id generator: the server span's id is the span id of our
`traceparent` response header, an attempt span's id is the one sent upstream.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

from app.gateway.tracing import TraceContext

__all__ = ["Attributes", "OtelTracer", "Span"]

Attributes = Mapping[str, str | int | float | bool]


class _PresetIds(RandomIdGenerator):
    """Hands out the ids we set just before `start_span` (all on the event loop thread), random ones otherwise."""

    def __init__(self) -> None:
        self.trace_id: int | None = None
        self.span_id: int | None = None

    def generate_span_id(self) -> int:
        return self.span_id if self.span_id is not None else super().generate_span_id()

    def generate_trace_id(self) -> int:
        return self.trace_id if self.trace_id is not None else super().generate_trace_id()


class OtelTracer:
    """One TracerProvider per worker process, exporting to OTEL_EXPORTER_OTLP_ENDPOINT (read by the exporter).

    `processor` replaces the OTLP batch exporter (tests pass an in-memory one).
    """

    def __init__(self, service_name: str, processor: SpanProcessor | None = None) -> None:
        self._ids = _PresetIds()
        resource = Resource.create({"service.name": service_name})
        self.provider = TracerProvider(resource=resource, id_generator=self._ids, shutdown_on_exit=False)
        self.provider.add_span_processor(processor or BatchSpanProcessor(OTLPSpanExporter()))
        self._tracer = self.provider.get_tracer("polyroute")

    def _start(self, name: str, ours: TraceContext, parent: Context, kind: SpanKind, attributes: Attributes) -> Span:
        self._ids.trace_id, self._ids.span_id = int(ours.trace_id, 16), int(ours.span_id, 16)
        try:
            return self._tracer.start_span(name, context=parent, kind=kind, attributes=attributes)
        finally:
            self._ids.trace_id = self._ids.span_id = None

    def start_server(self, trace: TraceContext, name: str, attributes: Attributes) -> Span:
        """The request's span, child of the caller's `traceparent` span when there was one."""
        parent = Context()
        if trace.parent_span_id is not None:
            parent = _parent(trace.trace_id, trace.parent_span_id, trace.flags, remote=True)
        return self._start(name, trace, parent, SpanKind.SERVER, attributes)

    def start_client(self, child: TraceContext, name: str, attributes: Attributes) -> Span:
        """An upstream attempt's span, child of the request's span."""
        assert child.parent_span_id is not None
        parent = _parent(child.trace_id, child.parent_span_id, child.flags, remote=False)
        return self._start(name, child, parent, SpanKind.CLIENT, attributes)

    @staticmethod
    def finish(span: Span, attributes: Attributes, error: str | None = None) -> None:
        span.set_attributes(attributes)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end()

    def shutdown(self) -> None:
        """Export what is batched, then stop the exporter thread (blocking: run it off the event loop)."""
        self.provider.shutdown()


def _parent(trace_id: str, span_id: str, flags: str, *, remote: bool) -> Context:
    context = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=remote, trace_flags=TraceFlags(int(flags, 16)))
    return set_span_in_context(NonRecordingSpan(context), Context())
