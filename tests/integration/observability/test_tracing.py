"""OpenTelemetry export to a fake OTLP/HTTP collector: one server span per request, one client span per attempt."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from tests.db_backends import gateway_on
from tests.fakes.openai import FakeOpenAI
from tests.fakes.otlp import CollectedSpan, FakeCollector
from tests.gateway_process import API_KEY, GatewayProcess
from tests.integration.observability.conftest import observed_config

pytestmark = pytest.mark.usefixtures("fakes_reset")

STATUS_ERROR = 2


@pytest.fixture(scope="module")
def collector() -> Iterator[FakeCollector]:
    server = FakeCollector().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def traced(
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
    fake_backup: FakeOpenAI,
    collector: FakeCollector,
) -> Iterator[GatewayProcess]:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.base_url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_SERVICE_NAME": "polyroute-test",
    }
    with gateway_on(
        backend, tmp_path_factory.mktemp("traced"), observed_config(fake_openai, fake_backup), env=env
    ) as gw:
        yield gw


def _post(gw: GatewayProcess, model: str, traceparent: str | None = None, **extra: object) -> httpx.Response:
    headers = {"authorization": f"Bearer {API_KEY}"}
    if traceparent:
        headers["traceparent"] = traceparent
    body = {"model": model, "messages": [{"role": "user", "content": "hello there"}], **extra}
    return httpx.post(gw.v1 + "/chat/completions", json=body, headers=headers, timeout=30)


def _ids(traceparent: str) -> tuple[str, str]:
    _, trace_id, span_id, _ = traceparent.split("-")
    return trace_id, span_id


def _upstream_span_ids(fake: FakeOpenAI) -> list[str]:
    return [_ids(r.headers["traceparent"])[1] for r in fake.requests_for("/chat/completions")]


def _by_kind(spans: list[CollectedSpan], kind: str) -> list[CollectedSpan]:
    return [s for s in spans if s.kind == kind]


def test_a_fallback_exports_a_server_span_and_one_client_span_per_attempt(
    traced: GatewayProcess, collector: FakeCollector, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> None:
    trace_id, caller_span = os.urandom(16).hex(), os.urandom(8).hex()
    resp = _post(traced, "route/fallback", f"00-{trace_id}-{caller_span}-01")
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-polyroute-attempts"] == "2"
    our_trace, our_span = _ids(resp.headers["traceparent"])
    assert our_trace == trace_id

    spans = collector.wait_for(trace_id, 3)
    assert len(spans) == 3, spans
    [server] = _by_kind(spans, "server")
    clients = sorted(_by_kind(spans, "client"), key=lambda s: s.attributes["polyroute.attempt"])
    assert len(clients) == 2
    assert server.span_id == our_span and server.parent_span_id == caller_span
    assert server.service == "polyroute-test"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["gen_ai.request.model"] == "route/fallback"
    assert server.attributes["gen_ai.response.model"] == "backup/gpt-fake"
    assert server.attributes["gen_ai.usage.input_tokens"] > 0
    assert server.attributes["gen_ai.usage.output_tokens"] > 0
    assert server.attributes["polyroute.provider"] == "backup"
    assert server.attributes["polyroute.attempts"] == 2

    failed, answered = clients
    assert all(c.parent_span_id == our_span for c in clients)
    # The attempt span is the span the upstream saw in its traceparent.
    assert [failed.span_id] == _upstream_span_ids(fake_openai)
    assert [answered.span_id] == _upstream_span_ids(fake_backup)
    assert failed.attributes["polyroute.provider"] == "fakeai"
    assert failed.attributes["gen_ai.request.model"] == "fake-500"
    assert failed.attributes["http.response.status_code"] == 500
    assert failed.status_code == STATUS_ERROR
    assert answered.attributes["polyroute.provider"] == "backup"
    assert answered.attributes["http.response.status_code"] == 200
    assert answered.attributes["server.address"] == "127.0.0.1"
    assert answered.attributes["polyroute.attempt"] == 2


def test_a_request_without_traceparent_starts_the_trace_our_headers_name(
    traced: GatewayProcess, collector: FakeCollector
) -> None:
    resp = _post(traced, "fakeai/gpt-fake", stream=True)
    assert resp.status_code == 200
    trace_id, span_id = _ids(resp.headers["traceparent"])
    spans = collector.wait_for(trace_id, 2)
    [server] = _by_kind(spans, "server")
    [client] = _by_kind(spans, "client")
    assert server.span_id == span_id and server.parent_span_id == ""
    assert client.parent_span_id == span_id
    assert client.attributes["http.response.status_code"] == 200
    assert server.attributes["gen_ai.usage.output_tokens"] > 0


def test_a_refused_request_still_gets_its_server_span(traced: GatewayProcess, collector: FakeCollector) -> None:
    trace_id = os.urandom(16).hex()
    headers = {"x-api-key": "sk-poly-not-a-key-0123456789", "traceparent": f"00-{trace_id}-{os.urandom(8).hex()}-01"}
    assert httpx.post(traced.v1 + "/chat/completions", json={}, headers=headers).status_code == 401
    [server] = collector.wait_for(trace_id, 1)
    assert server.kind == "server"
    assert server.attributes["http.response.status_code"] == 401
