"""Usage events -> Prometheus samples, the gauges, and the exposition without multiprocess mode."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from app.accounting.events import Usage, UsageEvent
from app.observability.metrics import FLUSH_AT, GatewayMetrics, GaugeSources, exposition, upstream_error_kind


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> GatewayMetrics:
    return GatewayMetrics(registry)


def _event(**fields: Any) -> UsageEvent:
    base: dict[str, Any] = {"id": "req_1", "ts": 0.0, "endpoint": "chat.completions", "status": 200}
    return UsageEvent(**{**base, **fields})


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_an_answered_request_counts_requests_latency_ttft_tokens_and_cost(
    metrics: GatewayMetrics, registry: CollectorRegistry
) -> None:
    usage = Usage(prompt_tokens=12, completion_tokens=30, cached_tokens=4, reasoning_tokens=10)
    event = _event(
        route="route/fast",
        provider="openai",
        model="gpt-x",
        usage=usage,
        cost_usd=0.25,
        latency_ms=1500.0,
        ttft_ms=120.0,
        attempts=1,
    )
    metrics.observe(event)
    metrics.observe(event)
    assert (
        _value(
            registry,
            "polyroute_requests_total",
            endpoint="chat.completions",
            route="route/fast",
            provider="openai",
            model="gpt-x",
            status="200",
        )
        == 0
    )  # noted, not yet flushed
    metrics.flush()
    target = {"endpoint": "chat.completions", "route": "route/fast", "provider": "openai", "model": "gpt-x"}
    assert _value(registry, "polyroute_requests_total", **target, status="200") == 2
    assert _value(registry, "polyroute_request_duration_seconds_count", **target) == 2
    assert _value(registry, "polyroute_request_duration_seconds_sum", **target) == pytest.approx(3.0)
    assert _value(registry, "polyroute_request_duration_seconds_bucket", **target, le="1.0") == 0
    assert _value(registry, "polyroute_request_duration_seconds_bucket", **target, le="2.5") == 2
    assert _value(registry, "polyroute_time_to_first_token_seconds_sum", **target) == pytest.approx(0.24)
    for kind, count in (("prompt", 24), ("completion", 60), ("cached", 8), ("reasoning", 20)):
        assert _value(registry, "polyroute_tokens_total", provider="openai", model="gpt-x", type=kind) == count
    assert _value(registry, "polyroute_cost_usd_total", provider="openai", model="gpt-x") == pytest.approx(0.5)


def test_a_full_batch_is_flushed_by_observe_itself(metrics: GatewayMetrics, registry: CollectorRegistry) -> None:
    """A busy worker's events do not wait for the 1 s sampler: the loop would stall on a second's worth."""
    target = {"endpoint": "chat.completions", "route": "", "provider": "p", "model": "m"}
    event = _event(provider="p", model="m", latency_ms=10.0, attempts=1)
    for _ in range(FLUSH_AT - 1):
        metrics.observe(event)
    assert _value(registry, "polyroute_requests_total", **target, status="200") == 0
    metrics.observe(event)
    assert _value(registry, "polyroute_requests_total", **target, status="200") == FLUSH_AT
    assert _value(registry, "polyroute_request_duration_seconds_count", **target) == FLUSH_AT
    metrics.observe(event)
    metrics.flush()
    assert _value(registry, "polyroute_requests_total", **target, status="200") == FLUSH_AT + 1


def test_a_plan_limit_refusal_is_a_limit_rejection_and_an_upstream_429_is_not(
    metrics: GatewayMetrics, registry: CollectorRegistry
) -> None:
    metrics.observe(_event(status=429, error_code="DAILY_REQUEST_LIMIT_EXCEEDED"))
    metrics.observe(_event(status=429, error_code="BUDGET_EXCEEDED"))
    attempts = {"attempts": [{"provider": "p", "model": "m", "outcome": "error", "status": 429}]}
    metrics.observe(_event(status=429, error_code="RATE_LIMITED", attempts=1, detail=attempts))
    metrics.flush()
    assert _value(registry, "polyroute_limit_rejections_total", code="DAILY_REQUEST_LIMIT_EXCEEDED") == 1
    assert _value(registry, "polyroute_limit_rejections_total", code="BUDGET_EXCEEDED") == 1
    assert _value(registry, "polyroute_limit_rejections_total", code="RATE_LIMITED") == 0
    assert _value(registry, "polyroute_upstream_errors_total", provider="p", model="m", kind="4xx") == 1
    no_target = {"endpoint": "chat.completions", "route": "", "provider": "", "model": ""}
    assert _value(registry, "polyroute_requests_total", **no_target, status="429") == 3
    assert _value(registry, "polyroute_request_duration_seconds_count", **no_target) == 0


def test_failed_attempts_are_counted_by_kind(metrics: GatewayMetrics, registry: CollectorRegistry) -> None:
    attempts = [
        {"provider": "a", "model": "m", "outcome": "timeout"},
        {"provider": "a", "model": "m", "outcome": "error"},
        {"provider": "a", "model": "m", "outcome": "error", "status": 503},
        {"provider": "a", "model": "m", "outcome": "skipped", "error": "circuit breaker open"},
        {"provider": "b", "model": "m", "outcome": "ok", "status": 200},
    ]
    metrics.observe(_event(provider="b", model="m", attempts=4, detail={"attempts": attempts}))
    metrics.flush()
    for kind in ("timeout", "connect", "5xx"):
        assert _value(registry, "polyroute_upstream_errors_total", provider="a", model="m", kind=kind) == 1
    assert _value(registry, "polyroute_upstream_errors_total", provider="b", model="m", kind="5xx") == 0


@pytest.mark.parametrize(
    ("attempt", "kind"),
    [
        ({"outcome": "ok", "status": 200}, None),
        ({"outcome": "cancelled"}, None),
        ({"outcome": "timeout"}, "timeout"),
        ({"outcome": "error"}, "connect"),
        ({"outcome": "error", "status": 200}, "invalid_reply"),
        ({"outcome": "error", "status": 401}, "4xx"),
        ({"outcome": "error", "status": 502}, "5xx"),
    ],
)
def test_upstream_error_kind(attempt: dict[str, Any], kind: str | None) -> None:
    assert upstream_error_kind(attempt) == kind


def test_rejections_and_gauges(metrics: GatewayMetrics, registry: CollectorRegistry) -> None:
    metrics.reject("AUTHENTICATION_ERROR")
    sources = GaugeSources(
        usage_queue_depth=lambda: 7,
        usage_spool_pending=lambda: 3,
        usage_write_lag_s=lambda: 1.5,
        breaker_states=lambda: [("openai/gpt-x", "open"), ("openai/gpt-y", "half-open"), ("b/m", "closed")],
        inflight=lambda: 2,
        task_queue_depth=lambda: 5,
        upstream_connections=lambda: 4,
        loop_tasks=lambda: 9,
        provider_slots=lambda: [("small", 3)],
    )
    metrics.sample(sources)
    assert _value(registry, "polyroute_rejected_total", reason="AUTHENTICATION_ERROR") == 1
    assert _value(registry, "polyroute_usage_queue_depth") == 7
    assert _value(registry, "polyroute_usage_spool_pending") == 3
    assert _value(registry, "polyroute_usage_write_lag_seconds") == 1.5
    assert _value(registry, "polyroute_inflight_requests") == 2
    assert _value(registry, "polyroute_task_queue_depth") == 5
    assert _value(registry, "polyroute_upstream_connections_in_use") == 4
    assert _value(registry, "polyroute_event_loop_tasks") == 9
    assert _value(registry, "polyroute_provider_calls_in_flight", provider="small") == 3
    assert _value(registry, "polyroute_breaker_state", provider="openai", model="gpt-x") == 2
    assert _value(registry, "polyroute_breaker_state", provider="openai", model="gpt-y") == 1
    assert _value(registry, "polyroute_breaker_state", provider="b", model="m") == 0


def test_exposition_serves_this_process_metrics_without_a_multiprocess_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    text = exposition().decode()
    assert "# TYPE polyroute_requests_total counter" in text
    assert "# TYPE polyroute_breaker_state gauge" in text


def test_model_labels_are_bounded_for_names_callers_choose(
    metrics: GatewayMetrics, registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Glob models serve any id a caller names: past the bound, further models are labelled "other"."""
    monkeypatch.setattr("app.observability.metrics.MAX_MODEL_LABELS", 3)
    for i in range(6):
        metrics.observe(_event(provider="wild", model=f"m{i}", latency_ms=1.0, attempts=1))
    metrics.observe(_event(provider="wild", model="m0", latency_ms=1.0, attempts=1))  # seen: keeps its name
    metrics.flush()
    target = {"endpoint": "chat.completions", "route": "", "provider": "wild"}
    assert [_value(registry, "polyroute_requests_total", **target, model=f"m{i}", status="200") for i in range(4)] == [
        2,
        1,
        1,
        0,
    ]
    assert _value(registry, "polyroute_requests_total", **target, model="other", status="200") == 3
