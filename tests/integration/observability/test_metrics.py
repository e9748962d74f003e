"""/metrics on a two-worker server: every scrape, on whichever worker, reports the whole server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.db_backends import gateway_on
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY, GatewayProcess
from tests.integration.observability.conftest import TIGHT_KEY, observed_config

pytestmark = pytest.mark.usefixtures("fakes_reset")

METRICS_TOKEN = "metrics-token-0123456789"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prom")
    (path / "counter_999999.db").write_bytes(b"stale file from an earlier run")
    return path


@pytest.fixture(scope="module")
def two_workers(
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
    fake_backup: FakeOpenAI,
    metrics_dir: Path,
) -> Iterator[GatewayProcess]:
    env = {"POLYROUTE_METRICS_TOKEN": METRICS_TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with gateway_on(
        backend,
        tmp_path_factory.mktemp("metrics"),
        observed_config(fake_openai, fake_backup),
        env=env,
        extra_args=["--workers", "2"],
    ) as gw:
        yield gw


def _chat(gw: GatewayProcess, model: str, key: str = API_KEY, **extra: object) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}], **extra}
    # A new connection each time, so requests spread over both workers.
    return httpx.post(gw.v1 + "/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)


def _scrape(gw: GatewayProcess) -> Samples:
    resp = httpx.get(gw.base_url + "/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=")
    out: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            out[sample.name, frozenset(sample.labels.items())] = sample.value
    return out


def _total(samples: Samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= lab)


def test_metrics_token_is_required_when_set(two_workers: GatewayProcess) -> None:
    assert httpx.get(two_workers.base_url + "/metrics").status_code == 401
    wrong = httpx.get(two_workers.base_url + "/metrics", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["x-error-code"] == "AUTHENTICATION_ERROR"


def test_every_worker_reports_the_whole_server(two_workers: GatewayProcess, metrics_dir: Path) -> None:
    gw = two_workers
    assert not (metrics_dir / "counter_999999.db").exists(), "serve must empty the metrics dir of the last run"
    statuses = [_chat(gw, "fakeai/gpt-fake").status_code for _ in range(6)]
    stream = _chat(gw, "fakeai/gpt-fake", stream=True)
    fallback = _chat(gw, "route/fallback")
    dead_first = _chat(gw, "route/dead-first")
    assert statuses == [200] * 6 and stream.status_code == fallback.status_code == dead_first.status_code == 200
    tight = [_chat(gw, "fakeai/gpt-fake", key=TIGHT_KEY).status_code for _ in range(3)]
    limited = tight.count(429)
    assert limited >= 1, tight  # rpm 1, in-process counters: at most one success per worker
    unauthenticated = [
        httpx.post(gw.v1 + "/chat/completions", json={}, headers={"x-api-key": "sk-poly-unknown-0123456789"}),
        httpx.post(gw.v1 + "/chat/completions", json={}),
    ]
    assert [r.status_code for r in unauthenticated] == [401, 401]
    accounted = 6 + 1 + 1 + 1 + len(tight)

    time.sleep(1.6)  # each worker's sampler flushes its noted events every second
    scrapes = [_scrape(gw) for _ in range(8)]
    for samples in scrapes:
        assert _total(samples, "polyroute_requests_total") == accounted
        assert _total(samples, "polyroute_requests_total", status="429") == limited
        assert _total(samples, "polyroute_limit_rejections_total", code="RATE_LIMITED") == limited
        assert _total(samples, "polyroute_rejected_total", reason="AUTHENTICATION_ERROR") == 2
        assert _total(samples, "polyroute_upstream_errors_total", provider="fakeai", kind="5xx") == 1
        assert _total(samples, "polyroute_upstream_errors_total", provider="dead", kind="connect") == 1
        assert _total(samples, "polyroute_requests_total", route="route/fallback", provider="backup") == 1
        assert _total(samples, "polyroute_request_duration_seconds_count", provider="fakeai") == 6 + 1 + (
            len(tight) - limited
        )
        assert _total(samples, "polyroute_time_to_first_token_seconds_count") == 1
        assert _total(samples, "polyroute_tokens_total", type="prompt") > 0
        assert _total(samples, "polyroute_tokens_total", type="completion") > 0
        assert _total(samples, "polyroute_cost_usd_total") > 0
        assert _total(samples, "polyroute_breaker_state", provider="backup", model="gpt-fake") == 0
        assert ("polyroute_usage_queue_depth", frozenset()) in samples
        assert ("polyroute_usage_write_lag_seconds", frozenset()) in samples
        assert ("polyroute_task_queue_depth", frozenset()) in samples


def test_workers_drop_their_live_gauges_on_exit(two_workers: GatewayProcess, metrics_dir: Path) -> None:
    """Runs last in this module: it stops the shared server."""
    assert list(metrics_dir.glob("gauge_live*.db"))
    assert two_workers.stop() == 0
    assert not list(metrics_dir.glob("gauge_live*.db"))
    assert list(metrics_dir.glob("counter_*.db")), "counters outlive their worker"
