"""A fake OTLP/HTTP collector: decodes the protobuf span batches POSTed to /v1/traces."""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.fakes.server import FakeServer

__all__ = ["CollectedSpan", "FakeCollector"]

SPAN_KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


@dataclass
class CollectedSpan:
    """One exported span, ids as lower-case hex like our `traceparent`."""

    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    status_code: int
    service: str


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    return getattr(value, which) if which else None


@dataclass
class FakeCollector(FakeServer):
    spans: list[CollectedSpan] = field(default_factory=list)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/traces", self.traces)

    async def traces(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        batch = ExportTraceServiceRequest()
        batch.ParseFromString(raw)
        for resource_spans in batch.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        CollectedSpan(
                            name=span.name,
                            kind=SPAN_KINDS.get(span.kind, str(span.kind)),
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            status_code=span.status.code,
                            service=str(resource.get("service.name", "")),
                        )
                    )
        body = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")

    def in_trace(self, trace_id: str) -> list[CollectedSpan]:
        return [s for s in self.spans if s.trace_id == trace_id]

    def wait_for(self, trace_id: str, count: int, timeout: float = 10.0) -> list[CollectedSpan]:
        """The spans of `trace_id` once at least `count` have arrived (or whatever came by the timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.in_trace(trace_id)) < count:
            time.sleep(0.05)
        return self.in_trace(trace_id)
