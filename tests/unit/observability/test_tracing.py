"""Spans with our ids: the server span is our traceparent span, an attempt span is the one sent upstream."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from app.accounting.events import Usage, UsageEvent
from app.gateway.tracing import trace_from_header
from app.observability import tracing
from app.observability.context import RequestState, current_request

INCOMING = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TARGET: Any = SimpleNamespace(
    provider=SimpleNamespace(name="fakeai", kind="openai", base_url="http://upstream.test:8080/v1"),
    candidate=SimpleNamespace(model="gpt-x"),
)


class _Failure(Exception):
    """Shaped like the attempt loop's private failure."""

    def __init__(self, cls: str, message: str, status: int | None) -> None:
        super().__init__(message)
        self.cls, self.message, self.status = cls, message, status


def test_disabled_tracing_only_makes_the_upstream_context() -> None:
    assert not tracing.enabled()
    trace = trace_from_header(INCOMING)
    state = RequestState("req_1", trace.trace_id, "chat.completions")
    tracing.start_request(state, trace, "POST", "/v1/chat/completions")
    assert state.server_span is None
    with tracing.attempt_span(trace, TARGET, 0, [], stream=False) as child:
        assert child.trace_id == trace.trace_id and child.parent_span_id == trace.span_id
    tracing.end_request(state, 200)


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.start({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}, SimpleSpanProcessor(exporter))
    yield exporter
    tracing.shutdown()
    assert not tracing.enabled()


@pytest.fixture
def request_state() -> Iterator[tuple[RequestState, Any]]:
    trace = trace_from_header(INCOMING)
    state = RequestState("req_1", trace.trace_id, "chat.completions")
    token = current_request.set(state)
    tracing.start_request(state, trace, "POST", "/v1/chat/completions")
    yield state, trace
    current_request.reset(token)


def _hex(value: int, width: int) -> str:
    return f"{value:0{width}x}"


def test_spans_use_our_ids_and_the_callers_trace(
    exported: InMemorySpanExporter, request_state: tuple[RequestState, Any]
) -> None:
    state, trace = request_state
    with pytest.raises(_Failure), tracing.attempt_span(trace, TARGET, 0, [], stream=False) as first:
        raise _Failure("retryable", "fakeai returned HTTP 503: busy", 503)
    with tracing.attempt_span(trace, TARGET, 1, [SimpleNamespace(outcome="error")], stream=False) as second:
        pass
    state.event = UsageEvent(
        id="req_1",
        ts=0.0,
        endpoint="chat.completions",
        status=200,
        requested_model="route/x",
        provider="fakeai",
        model="gpt-x",
        usage=Usage(prompt_tokens=5, completion_tokens=7),
        attempts=2,
    )
    tracing.end_request(state, 200)

    failed, answered, server = exported.get_finished_spans()
    assert server.kind == SpanKind.SERVER and server.name == "POST /v1/chat/completions"
    assert _hex(server.context.trace_id, 32) == trace.trace_id
    assert _hex(server.context.span_id, 16) == trace.span_id
    assert server.parent is not None and server.parent.is_remote
    assert _hex(server.parent.span_id, 16) == "b7ad6b7169203331"
    assert server.attributes is not None
    assert server.attributes["gen_ai.request.model"] == "route/x"
    assert server.attributes["gen_ai.response.model"] == "fakeai/gpt-x"
    assert server.attributes["gen_ai.usage.input_tokens"] == 5
    assert server.attributes["gen_ai.usage.output_tokens"] == 7

    for span, child in ((failed, first), (answered, second)):
        assert span.kind == SpanKind.CLIENT and span.name == "chat gpt-x"
        assert _hex(span.context.span_id, 16) == child.span_id
        assert span.parent is not None and _hex(span.parent.span_id, 16) == trace.span_id
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes is not None and answered.attributes is not None
    assert failed.attributes["http.response.status_code"] == 503
    assert failed.attributes["error.type"] == "retryable"
    assert (failed.attributes["polyroute.attempt"], answered.attributes["polyroute.attempt"]) == (1, 2)
    assert answered.attributes["server.address"] == "upstream.test"
    assert answered.attributes["server.port"] == 8080
    assert answered.attributes["polyroute.provider"] == "fakeai"


def test_a_started_streams_attempt_ends_with_the_request(
    exported: InMemorySpanExporter, request_state: tuple[RequestState, Any]
) -> None:
    state, trace = request_state
    with tracing.attempt_span(trace, TARGET, 0, [], stream=True):
        pass
    assert exported.get_finished_spans() == ()
    tracing.end_request(state, 200)
    attempt, server = exported.get_finished_spans()
    assert attempt.kind == SpanKind.CLIENT and server.kind == SpanKind.SERVER
    assert attempt.end_time is not None and server.end_time is not None and attempt.end_time <= server.end_time


def test_tracing_stays_off_without_an_endpoint() -> None:
    assert not tracing.start({})
    assert not tracing.start({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"})
    assert not tracing.enabled()
