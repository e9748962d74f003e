"""Retries and fallback across real fake upstreams; the fakes' records show the order of attempts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import free_port
from tests.gateway_process import API_KEY, GatewayProcess, start_gateway

pytestmark = pytest.mark.usefixtures("fakes_reset")

PRIMARY_MODELS = [
    "gpt-fake",
    "fake-500",
    "fake-429",
    "fake-400",
    "fake-content-policy",
    "fake-stall",
    "fake-stall-first",
    "fake-cut",
    "fake-stall-mid",
    "fake-context",
    "fake-chunks-40",
]


def _route(name: str, first: str, second: tuple[str, str] = ("backup", "gpt-fake"), **params: Any) -> dict[str, Any]:
    return {
        "name": name,
        "params": params,
        "targets": [
            {"provider": "primary", "model": first, "priority": 0},
            {"provider": second[0], "model": second[1], "priority": 1},
        ],
    }


@pytest.fixture(scope="module")
def routed(
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
    fake_backup: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
) -> Iterator[GatewayProcess]:
    config = {
        "providers": [
            {
                "name": "primary",
                "kind": "openai",
                "base_url": fake_openai.base_url + "/v1",
                "api_key": "sk-p",
                "timeout_s": 5,
                "probe_interval_s": 0,
                "models": [{"id": m, "context_window": 16 if m == "fake-context" else 8000} for m in PRIMARY_MODELS],
            },
            {
                "name": "backup",
                "kind": "openai-compatible",
                "base_url": fake_backup.base_url + "/v1",
                "api_key": "sk-b",
                "timeout_s": 5,
                "probe_interval_s": 0,
                "models": [{"id": "gpt-fake", "context_window": 128000}, {"id": "fake-chunks-40"}],
            },
            {
                "name": "claude",
                "kind": "anthropic",
                "base_url": fake_anthropic.base_url,
                "api_key": "sk-ant-upstream-secret",
                "timeout_s": 5,
                "probe_interval_s": 0,
                "models": [{"id": "claude-fake", "context_window": 200000}],
            },
            {
                "name": "nowhere",
                "kind": "openai",
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "api_key": "sk-n",
                "timeout_s": 2,
                "probe_interval_s": 0,
                "models": [{"id": "gpt-fake"}],
            },
        ],
        "routes": [
            _route("route/r500", "fake-500", retries=1, backoff_ms=10),
            _route("route/r429", "fake-429", retries=1, max_retry_after_s=2),
            _route("route/r429-long", "fake-429", retries=1, max_retry_after_s=0.5),
            _route("route/rstall", "fake-stall-first", first_token_timeout_s=1),
            _route("route/rslow", "fake-stall", retries=2),
            _route("route/r400", "fake-400"),
            _route("route/rpolicy", "fake-content-policy"),
            _route("route/rcontext", "fake-context"),
            {
                "name": "route/rdead",
                "targets": [
                    {"provider": "nowhere", "model": "gpt-fake", "priority": 0},
                    {"provider": "backup", "model": "gpt-fake", "priority": 1},
                ],
            },
            _route("route/deadline", "fake-stall", deadline_s=1.5),
        ],
        "api_keys": [{"name": "k", "key": API_KEY}],
    }
    gw = start_gateway(tmp_path_factory.mktemp("routed"), config)
    yield gw
    gw.stop()


def _chat(gw: GatewayProcess, model: str, stream: bool = False, **extra: Any) -> httpx.Response:
    with httpx.Client(base_url=gw.base_url, timeout=30) as http:
        return http.post(
            "/v1/chat/completions",
            json={"model": model, "stream": stream, "messages": [{"role": "user", "content": "hello"}], **extra},
            headers={"Authorization": f"Bearer {API_KEY}", "x-polyroute-explain": "1"},
        )


def _models(fake: FakeOpenAI) -> list[str]:
    return [r.json()["model"] for r in fake.requests_for("/chat/completions")]


def test_500_is_retried_then_falls_back(
    routed: GatewayProcess, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> None:
    resp = _chat(routed, "route/r500")
    assert resp.status_code == 200
    assert resp.json()["model"] == "backup/gpt-fake"
    assert _models(fake_openai) == ["fake-500", "fake-500"]
    assert _models(fake_backup) == ["gpt-fake"]
    assert resp.headers["x-polyroute-attempts"] == "3"
    explain = resp.json()["polyroute_explain"]
    verdicts = [c["verdict"] for c in explain["candidates"]]
    assert verdicts[0].startswith("failed") and verdicts[1] == "chosen"
    assert json.loads(resp.headers["x-polyroute-explain"]) == explain


def test_429_honours_retry_after_before_falling_back(routed: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    started = time.monotonic()
    resp = _chat(routed, "route/r429")
    assert resp.status_code == 200 and resp.json()["model"] == "backup/gpt-fake"
    assert time.monotonic() - started >= 1.0  # waited the upstream's Retry-After: 1
    assert _models(fake_openai) == ["fake-429", "fake-429"]


def test_retry_after_above_the_cap_fails_over_at_once(routed: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    started = time.monotonic()
    resp = _chat(routed, "route/r429-long")
    assert resp.status_code == 200
    assert time.monotonic() - started < 0.9
    assert _models(fake_openai) == ["fake-429"]


@pytest.mark.parametrize("stream", [False, True])
def test_no_first_token_in_time_fails_over_without_retry(
    routed: GatewayProcess, fake_openai: FakeOpenAI, stream: bool
) -> None:
    started = time.monotonic()
    resp = _chat(routed, "route/rstall" if stream else "route/rslow", stream=stream)
    assert resp.status_code == 200
    assert time.monotonic() - started < 7
    assert len(fake_openai.requests_for("/chat/completions")) == 1  # a timeout is never retried on the same target
    if stream:
        assert resp.text.rstrip().endswith("data: [DONE]")


def test_refused_connection_falls_back(routed: GatewayProcess, fake_backup: FakeOpenAI) -> None:
    resp = _chat(routed, "route/rdead")
    assert resp.status_code == 200 and resp.json()["model"] == "backup/gpt-fake"


@pytest.mark.parametrize("route", ["route/r400", "route/rpolicy"])
def test_callers_fault_returns_at_once_without_fallback(
    routed: GatewayProcess, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI, route: str
) -> None:
    resp = _chat(routed, route)
    assert resp.status_code == 400
    assert len(fake_openai.requests_for("/chat/completions")) == 1
    assert fake_backup.requests_for("/chat/completions") == []


def test_context_length_falls_back_only_to_a_larger_window(routed: GatewayProcess, fake_backup: FakeOpenAI) -> None:
    resp = _chat(routed, "route/rcontext")
    assert resp.status_code == 200 and resp.json()["model"] == "backup/gpt-fake"
    with routed.admin() as http:
        models = {
            m["model"]: m
            for p in http.get("/v1/health/providers").json()["data"]
            if p["name"] == "primary"
            for m in p["models"]
        }
    assert models["fake-context"]["consecutive_failures"] == 0  # a too-long prompt says nothing about health


def test_deadline_bounds_the_whole_request(routed: GatewayProcess) -> None:
    started = time.monotonic()
    resp = _chat(routed, "route/deadline")
    assert time.monotonic() - started < 3
    assert resp.status_code in {200, 504}


def test_all_failed_lists_every_attempt(routed: GatewayProcess) -> None:
    with pytest.raises(openai.InternalServerError) as err:
        routed.openai().chat.completions.create(model="primary/fake-500", messages=[{"role": "user", "content": "x"}])
    body = err.value.response.json()
    assert body["code"] == "PROVIDER_ERROR"
    # one or two attempts: the retry stops early once this target's breaker has opened (earlier tests)
    assert body["attempts"] and all(a["status"] == 500 for a in body["attempts"])
    assert all(a["provider"] == "primary" and a["duration_ms"] >= 0 for a in body["attempts"])
