"""Retries and fallback across real fake upstreams; the fakes' records show the order of attempts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.db_backends import gateway_on
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import free_port
from tests.gateway_process import API_KEY, GatewayProcess

pytestmark = pytest.mark.usefixtures("fakes_reset")

PRIMARY_MODELS = [
    "gpt-fake",
    "fake-500",
    "fake-503",
    "fake-429",
    "fake-400",
    "fake-content-policy",
    "fake-stall",
    "fake-stall-first",
    "fake-cut",
    "fake-stall-mid",
    "fake-context",
    "fake-chunks-40",
    "fake-malformed-sse",
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
    backend: str,
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
                "models": [
                    {"id": "gpt-fake", "context_window": 128000},
                    {"id": "fake-chunks-40"},
                    {"id": "fake-stall-first"},
                ],
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
            {  # only its own first-token timeout (no route parameter) can cut its silent streams short
                "name": "slowstart",
                "kind": "openai",
                "base_url": fake_openai.base_url + "/v1",
                "api_key": "sk-p",
                "timeout_s": 30,
                "first_token_timeout_s": 1,
                "probe_interval_s": 0,
                "models": [{"id": "fake-stall-first"}],
            },
            {
                "name": "nowhere",
                "kind": "openai",
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "api_key": "sk-n",
                "timeout_s": 2,
                "probe_interval_s": 0,
                "models": [{"id": "gpt-fake"}, {"id": "gpt-fake-s"}],
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
            # stream variants on their own targets, so that breakers opened by the tests above stay out
            _route("route/s503", "fake-503", retries=1, backoff_ms=10),
            {
                "name": "route/sdead",
                "targets": [
                    {"provider": "nowhere", "model": "gpt-fake-s", "priority": 0},
                    {"provider": "backup", "model": "gpt-fake", "priority": 1},
                ],
            },
            _route("route/all-stall", "fake-stall-first", ("backup", "fake-stall-first"), first_token_timeout_s=1),
            {
                "name": "route/provider-stall",
                "targets": [
                    {"provider": "slowstart", "model": "fake-stall-first", "priority": 0},
                    {"provider": "backup", "model": "gpt-fake", "priority": 1},
                ],
            },
        ],
        "api_keys": [{"name": "k", "key": API_KEY}],
    }
    with gateway_on(backend, tmp_path_factory.mktemp("routed"), config) as gw:
        yield gw


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


def test_a_providers_own_first_token_timeout_moves_a_silent_stream_on(
    routed: GatewayProcess, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> None:
    """`first_token_timeout_s` on the provider applies when the route sets none: the stream moves to
    the backup after ~1 s, not after the provider's 30 s timeout."""
    started = time.monotonic()
    resp = _chat(routed, "route/provider-stall", stream=True)
    elapsed = time.monotonic() - started
    assert resp.status_code == 200 and resp.text.rstrip().endswith("data: [DONE]")
    assert '"model":"backup/gpt-fake"' in resp.text.replace(" ", "")
    assert 0.9 < elapsed < 5
    assert len(fake_openai.requests_for("/chat/completions")) == 1
    assert len(fake_backup.requests_for("/chat/completions")) == 1


def test_refused_connection_falls_back(routed: GatewayProcess, fake_backup: FakeOpenAI) -> None:
    resp = _chat(routed, "route/rdead")
    assert resp.status_code == 200 and resp.json()["model"] == "backup/gpt-fake"


@pytest.mark.parametrize("route", ["route/r400", "route/rpolicy"])
def test_callers_fault_returns_at_once_without_fallback(
    routed: GatewayProcess, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI, route: str
) -> None:
    resp = _chat(routed, route)
    assert resp.status_code == 400
    assert resp.headers["x-polyroute-attempts"] == "1"
    assert len(fake_openai.requests_for("/chat/completions")) == 1
    assert fake_backup.requests_for("/chat/completions") == []


def test_content_policy_refusal_passes_the_providers_message(routed: GatewayProcess) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        routed.openai().chat.completions.create(model="route/rpolicy", messages=[{"role": "user", "content": "x"}])
    assert "rejected as a result of our safety system" in err.value.message
    problem = err.value.response.json()
    assert problem["code"] == "INVALID_REQUEST" and problem["upstream_code"] == "content_policy_violation"


@pytest.mark.parametrize(("route", "primary_calls"), [("route/s503", 2), ("route/sdead", 0)])
def test_a_stream_falls_back_before_its_first_byte(
    routed: GatewayProcess, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI, route: str, primary_calls: int
) -> None:
    resp = _chat(routed, route, stream=True)
    assert resp.status_code == 200
    assert resp.headers["x-polyroute-attempts"] == "3"  # two on the first target (one retry), one on the backup
    frames = [line[6:] for line in resp.text.splitlines() if line.startswith("data: ")]
    assert frames[-1] == "[DONE]"
    chunks = [json.loads(f) for f in frames[:-1]]
    assert {c["model"] for c in chunks} == {"backup/gpt-fake"}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.startswith("Hello from gpt-fake")
    assert len(fake_openai.requests_for("/chat/completions")) == primary_calls
    assert [r.json()["stream"] for r in fake_backup.requests_for("/chat/completions")] == [True]


def test_when_every_target_times_out_the_answer_is_504_with_each_attempt(routed: GatewayProcess) -> None:
    started = time.monotonic()
    resp = _chat(routed, "route/all-stall", stream=True)
    assert time.monotonic() - started < 5
    assert resp.status_code == 504 and resp.headers["x-error-code"] == "PROVIDER_TIMEOUT"
    attempts = resp.json()["attempts"]
    assert [(a["provider"], a["outcome"]) for a in attempts] == [("primary", "timeout"), ("backup", "timeout")]


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


def test_deadline_bounds_the_whole_request(routed: GatewayProcess, fake_backup: FakeOpenAI) -> None:
    started = time.monotonic()
    resp = _chat(routed, "route/deadline")
    elapsed = time.monotonic() - started
    # the primary would stall for its whole 5 s timeout; the 1.5 s deadline cuts it and leaves
    # nothing for the backup, so the request ends as a timeout instead of running on
    assert 1.4 <= elapsed < 3
    assert resp.status_code == 504 and resp.json()["code"] == "PROVIDER_TIMEOUT"
    assert fake_backup.requests_for("/chat/completions") == []


def test_all_failed_lists_every_attempt(routed: GatewayProcess) -> None:
    with pytest.raises(openai.InternalServerError) as err:
        routed.openai().chat.completions.create(model="primary/fake-500", messages=[{"role": "user", "content": "x"}])
    body = err.value.response.json()
    assert body["code"] == "PROVIDER_ERROR"
    # one or two attempts: the retry stops early once this target's breaker has opened (earlier tests)
    assert body["attempts"] and all(a["status"] == 500 for a in body["attempts"])
    assert all(a["provider"] == "primary" and a["duration_ms"] >= 0 for a in body["attempts"])


def test_request_log_keeps_the_explanation_and_counts_malformed_frames(routed: GatewayProcess) -> None:
    resp = _chat(routed, "primary/fake-malformed-sse", stream=True)
    assert resp.status_code == 200 and resp.text.rstrip().endswith("data: [DONE]")
    explained = json.loads(resp.headers["x-polyroute-explain"])
    logged = routed.logged(resp.headers["x-request-id"])
    assert logged["explain"] == explained
    assert logged["malformed_frames"] == 1  # the garbage frame was skipped, not fatal, and counted
