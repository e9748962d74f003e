"""Prometheus metrics: counters and histograms fed by usage events, gauges sampled per worker.

On the request path `observe` only appends the event to a list; `flush` (run by each worker's
1 s sampler, before every scrape, and by `observe` once FLUSH_AT events are waiting) turns the
batch into metric updates, summing counter increments per label set first. In multiprocess mode
each update is an mmap write under a lock (a few microseconds), which is why it is batched.
"""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from app.accounting.events import UsageEvent
from app.observability.multiproc import MULTIPROC_ENV

__all__ = [
    "BREAKER_STATES",
    "CONTENT_TYPE",
    "LIMIT_CODES",
    "GatewayMetrics",
    "GaugeSources",
    "exposition",
    "gateway_metrics",
    "upstream_error_kind",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
LIMIT_CODES = frozenset({"RATE_LIMITED", "DAILY_REQUEST_LIMIT_EXCEEDED", "BUDGET_EXCEEDED"})
BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
MAX_MODEL_LABELS = 1000
"""Distinct (provider, model) label pairs per worker before further models are labelled "other"."""
_TARGET = ("endpoint", "route", "provider", "model")
FLUSH_AT = 256
"""Events held before `observe` flushes them itself. A flush holds the event loop for ~2.5 µs per
event (measured), so leaving a busy worker's events to the 1 s sampler stalled every request in
flight for a whole second's worth of them: 12 ms a second at 5,000 requests/s. A bounded batch
keeps each stall under a millisecond at any rate, and still sums a batch's counter increments."""
Increment = tuple[Counter, tuple[str, ...], float]


@dataclass(frozen=True, slots=True)
class GaugeSources:
    """Where the sampled gauges read from; `create_app` builds it from the runtime."""

    usage_queue_depth: Callable[[], int]
    usage_spool_pending: Callable[[], int]
    usage_write_lag_s: Callable[[], float]
    breaker_states: Callable[[], Iterable[tuple[str, str]]]
    """(target key `provider/model`, breaker state) for every target this worker has seen."""
    inflight: Callable[[], int]
    task_queue_depth: Callable[[], int]
    """The last background count of queued tasks (the queue is a table; see lifecycle)."""
    upstream_connections: Callable[[], int]
    """Upstream connections checked out of this worker's pools (idle keep-alive ones excluded)."""
    loop_tasks: Callable[[], int]
    """asyncio tasks alive in this worker: a leak shows as a count that only grows."""
    provider_slots: Callable[[], Iterable[tuple[str, int]]]
    """(provider, calls holding its slots) for every provider with a `max_concurrent` cap."""


def upstream_error_kind(attempt: Mapping[str, Any]) -> str | None:
    """timeout | connect | invalid_reply | 4xx | 5xx for a failed attempt record, None otherwise."""
    outcome = attempt.get("outcome")
    if outcome == "timeout":
        return "timeout"
    if outcome != "error":
        return None
    status = attempt.get("status")
    if status is None:
        return "connect"
    if status < 300:
        return "invalid_reply"
    return f"{status // 100}xx"


class GatewayMetrics:
    """Every metric Polyroute exports; one instance per process (`gateway_metrics()`)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry
        self.requests = Counter(
            "polyroute_requests",
            "Inference requests past authentication, by outcome.",
            [*_TARGET, "status"],
            registry=r,
        )
        self.latency = Histogram(
            "polyroute_request_duration_seconds",
            "Whole-request latency of requests an upstream answered (stream end for streams).",
            _TARGET,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "polyroute_time_to_first_token_seconds",
            "Time to the first streamed token.",
            _TARGET,
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "polyroute_tokens",
            "Tokens by type: prompt, completion, cached, reasoning.",
            ["provider", "model", "type"],
            registry=r,
        )
        self.cost = Counter("polyroute_cost_usd", "Cost in US dollars.", ["provider", "model"], registry=r)
        self.upstream_errors = Counter(
            "polyroute_upstream_errors",
            "Failed upstream attempts by kind: timeout, connect, invalid_reply, 4xx, 5xx.",
            ["provider", "model", "kind"],
            registry=r,
        )
        self.limit_rejections = Counter(
            "polyroute_limit_rejections", "Requests refused by a plan limit, by error code.", ["code"], registry=r
        )
        self.rejected = Counter(
            "polyroute_rejected",
            "Inference requests refused before they were accounted (bad key, bad input before auth), by error code.",
            ["reason"],
            registry=r,
        )
        self._gauges(r)
        self._pending: list[UsageEvent] = []
        self._models: set[tuple[str, str]] = set()

    def _gauges(self, r: CollectorRegistry | None) -> None:
        self.breaker = Gauge(
            "polyroute_breaker_state",
            "Circuit breaker per target: 0 closed, 1 half-open, 2 open (worst over workers).",
            ["provider", "model"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.usage_queue = Gauge(
            "polyroute_usage_queue_depth", "Usage events waiting in memory.", registry=r, multiprocess_mode="livesum"
        )
        self.usage_spool = Gauge(
            "polyroute_usage_spool_pending",
            "Usage events journaled to the spool, not yet in the database.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.write_lag = Gauge(
            "polyroute_usage_write_lag_seconds",
            "Age of the oldest event in the last usage flush.",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.task_queue = Gauge(
            "polyroute_task_queue_depth",
            "Asynchronous tasks waiting for a worker, over every replica (counted every 2 s).",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.inflight = Gauge(
            "polyroute_inflight_requests", "Inference requests in progress.", registry=r, multiprocess_mode="livesum"
        )
        self.upstream_connections = Gauge(
            "polyroute_upstream_connections_in_use",
            "Upstream connections checked out (a request or stream is using them).",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.provider_slots = Gauge(
            "polyroute_provider_calls_in_flight",
            "Calls holding one of a capped provider's max_concurrent slots (waiting ones excluded).",
            ["provider"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.loop_tasks = Gauge(
            "polyroute_event_loop_tasks", "asyncio tasks alive in the workers.", registry=r, multiprocess_mode="livesum"
        )

    def observe(self, event: UsageEvent) -> None:
        """Note one usage event (called where events are enqueued); `flush` counts it."""
        pending = self._pending
        pending.append(event)
        if len(pending) >= FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        """Apply the events noted since the last flush: summed counter increments, one histogram sample each."""
        events, self._pending = self._pending, []
        totals: defaultdict[tuple[Counter, tuple[str, ...]], float] = defaultdict(float)
        samples: defaultdict[tuple[Histogram, tuple[str, ...]], list[float]] = defaultdict(list)
        for event in events:
            for metric, labels, amount in self._increments(event):
                totals[metric, labels] += amount
            if event.provider is not None:
                target = (event.endpoint, event.route or "", event.provider, self._model(event.provider, event.model))
                samples[self.latency, target].append(event.latency_ms / 1000)
                if event.ttft_ms is not None:
                    samples[self.ttft, target].append(event.ttft_ms / 1000)
        for (metric, labels), amount in totals.items():
            metric.labels(*labels).inc(amount)
        for (histogram, labels), values in samples.items():
            child = histogram.labels(*labels)
            for value in values:
                child.observe(value)

    def _model(self, provider: str, model: str | None) -> str:
        """`model` as a label value: the first MAX_MODEL_LABELS provider models seen keep their name, later
        ones read "other". Glob models let callers choose names; a label set per name would grow without end."""
        pair = (provider, model or "")
        if pair in self._models:
            return pair[1]
        if len(self._models) < MAX_MODEL_LABELS:
            self._models.add(pair)
            return pair[1]
        return "other"

    def _increments(self, event: UsageEvent) -> Iterator[Increment]:
        provider = event.provider or ""
        model = self._model(provider, event.model)
        yield self.requests, (event.endpoint, event.route or "", provider, model, str(event.status)), 1
        if event.provider is not None:
            usage = event.usage
            for kind, count in (
                ("prompt", usage.prompt_tokens),
                ("completion", usage.completion_tokens),
                ("cached", usage.cached_tokens),
                ("reasoning", usage.reasoning_tokens),
            ):
                if count:
                    yield self.tokens, (provider, model, kind), count
            if event.cost_usd:
                yield self.cost, (provider, model), event.cost_usd
        if event.error_code in LIMIT_CODES and not event.attempts:
            yield self.limit_rejections, (event.error_code,), 1
        if event.detail is not None and event.attempts:
            for attempt in event.detail.get("attempts", ()):
                error = upstream_error_kind(attempt)
                if error is not None:
                    provider = str(attempt.get("provider", ""))
                    model = self._model(provider, str(attempt.get("model", "")))
                    yield self.upstream_errors, (provider, model, error), 1

    def reject(self, reason: str) -> None:
        self.rejected.labels(reason).inc()

    def sample(self, sources: GaugeSources) -> None:
        """Flush, then refresh the gauges from this worker's state (a 1 s job per worker, and before each scrape)."""
        self.flush()
        self.usage_queue.set(sources.usage_queue_depth())
        self.usage_spool.set(sources.usage_spool_pending())
        self.write_lag.set(sources.usage_write_lag_s())
        self.task_queue.set(sources.task_queue_depth())
        self.inflight.set(sources.inflight())
        self.upstream_connections.set(sources.upstream_connections())
        self.loop_tasks.set(sources.loop_tasks())
        for provider, busy in sources.provider_slots():
            self.provider_slots.labels(provider).set(busy)
        for key, state in sources.breaker_states():
            provider, _, model = key.partition("/")
            self.breaker.labels(provider, self._model(provider, model)).set(BREAKER_STATES.get(state, 0))


def _multiproc_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


@functools.cache
def _registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


@functools.cache
def gateway_metrics() -> GatewayMetrics:
    """This process's metrics; in multiprocess mode the values live in files under PROMETHEUS_MULTIPROC_DIR."""
    return GatewayMetrics(None if _multiproc_dir() else _registry())


def exposition() -> bytes:
    """The text format for /metrics: every worker's values in multiprocess mode, this process's otherwise."""
    gateway_metrics()
    if _multiproc_dir() is None:
        return generate_latest(_registry())
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus_client
    return generate_latest(registry)
