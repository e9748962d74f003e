"""/vendors/{provider}/{path}: native APIs with our key swapped for the provider's credentials."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from app.api.inference.aliases import AUDIO_ROUTES, INFERENCE_ROUTES, PREFIXES
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess, start_gateway
from tests.integration.cache.helpers import logged

pytestmark = pytest.mark.usefixtures("fakes_reset")


def _http(gw: GatewayProcess) -> httpx.Client:
    return httpx.Client(base_url=gw.base_url, timeout=30)


def test_openai_native_chat_non_stream_and_stream(gateway: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    body = {"model": "gpt-fake", "messages": [{"role": "user", "content": "native"}], "seed": 7}
    with _http(gateway) as http:
        resp = http.post(
            "/vendors/fakeai/v1/chat/completions?trace=1&x=a%20b",
            json=body,
            headers={"Authorization": f"Bearer {gateway.api_key}", "x-custom": "kept"},
        )
        assert resp.status_code == 200
        assert resp.json()["choices"][0]["message"]["content"] == "Hello from gpt-fake. You said: native"
        assert resp.json()["model"] == "gpt-fake"  # untouched: this is the provider's own API
        seen = fake_openai.requests_for("/v1/chat/completions")[-1]
        assert seen.json() == body and seen.query == "trace=1&x=a%20b"
        assert seen.headers["Authorization"] == "Bearer sk-upstream-primary-secret"
        assert seen.headers["x-custom"] == "kept"
        assert gateway.api_key not in json.dumps(seen.headers)
        with http.stream(
            "POST",
            "/vendors/openai/v1/chat/completions",
            json={**body, "stream": True},
            headers={"Authorization": f"Bearer {gateway.api_key}"},
        ) as streamed:
            assert streamed.headers["content-type"].startswith("text/event-stream")
            lines = [line for line in streamed.iter_lines() if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]"


def test_anthropic_native_with_the_sdk(gateway: GatewayProcess, fake_anthropic: FakeAnthropic) -> None:
    client = anthropic.Anthropic(
        api_key=gateway.api_key, base_url=gateway.base_url + "/vendors/anthropic", max_retries=0
    )
    message = client.messages.create(model="claude-fake", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text == "Hello from claude-fake. You said: hi"
    seen = fake_anthropic.requests_for("/v1/messages")[-1]
    assert seen.headers["x-api-key"] == "sk-ant-upstream-secret"
    assert "Authorization" not in seen.headers
    with client.messages.stream(
        model="claude-fake", max_tokens=50, messages=[{"role": "user", "content": "s"}]
    ) as stream:
        assert stream.get_final_message().content[0].text.endswith("You said: s")


def test_gemini_native_generate_and_stream(gateway: GatewayProcess, fake_gemini: FakeGemini) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hey"}]}]}
    with _http(gateway) as http:
        resp = http.post(
            "/vendors/gem/v1beta/models/gemini-fake:generateContent",
            json=body,
            headers={"x-goog-api-key": gateway.api_key},
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["candidates"][0]["content"]["parts"][0]["text"].endswith("You said: hey")
        seen = fake_gemini.requests_for(":generateContent")[-1]
        assert seen.headers["x-goog-api-key"] == "gemini-upstream-secret"
        resp = http.post(
            f"/vendors/gemini/v1beta/models/gemini-fake:streamGenerateContent?alt=sse&key={gateway.api_key}", json=body
        )
        assert resp.status_code == 200 and resp.text.count("data: ") >= 2
        assert "key=" not in fake_gemini.requests_for(":streamGenerateContent")[-1].query  # our key never forwarded


def test_binary_bodies_and_upstream_status_pass_through(gateway: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    blob = bytes(range(256)) * 4
    with _http(gateway) as http:
        resp = http.post(
            "/vendors/fakeai/v1/files",
            content=blob,
            headers={"Authorization": f"Bearer {gateway.api_key}", "content-type": "application/octet-stream"},
        )
    assert resp.status_code == 404  # the fake has no /v1/files: its own 404 comes back as is
    assert fake_openai.requests_for("/v1/files")[-1].body == blob


def test_unknown_provider_plan_and_auth(gateway: GatewayProcess) -> None:
    with _http(gateway) as http:
        resp = http.post("/vendors/nope/v1/x", json={}, headers={"Authorization": f"Bearer {gateway.api_key}"})
        assert resp.status_code == 404 and resp.headers["x-error-code"] == "NOT_FOUND"
        resp = http.post(
            "/vendors/claude/v1/messages",
            json={"model": "claude-fake"},
            headers={"x-api-key": "sk-poly-free-0123456789abcdefghij"},
        )
        assert resp.status_code == 403 and resp.json()["error"]["type"] == "permission_error"
        assert http.post("/vendors/fakeai/v1/chat/completions", json={}).status_code == 401


def test_vendor_calls_are_accounted_with_the_usage_the_upstream_reported(gateway: GatewayProcess) -> None:
    auth = {"Authorization": f"Bearer {gateway.api_key}"}
    messages = {"model": "claude-fake", "max_tokens": 50, "messages": [{"role": "user", "content": "count me"}]}
    gemini = {"contents": [{"role": "user", "parts": [{"text": "count me"}]}]}
    chat = {"model": "gpt-fake", "messages": [{"role": "user", "content": "count me"}], "stream": True}
    with _http(gateway) as http:
        whole = http.post("/vendors/claude/v1/messages", json=messages, headers=auth)
        with http.stream("POST", "/vendors/claude/v1/messages", json={**messages, "stream": True}, headers=auth) as s:
            frames = [json.loads(line[6:]) for line in s.iter_lines() if line.startswith("data: ")]
            streamed_id = s.headers["x-request-id"]
        gem = http.post("/vendors/gem/v1beta/models/gemini-fake:generateContent", json=gemini, headers=auth)
        with http.stream(
            "POST",
            "/vendors/fakeai/v1/chat/completions",
            json={**chat, "stream_options": {"include_usage": True}},
            headers=auth,
        ) as s:
            chunks = [line[6:] for line in s.iter_lines() if line.startswith("data: ") and line != "data: [DONE]"]
            chat_id = s.headers["x-request-id"]
    usage = whole.json()["usage"]
    row = logged(gateway, whole.headers["x-request-id"])
    assert (row["endpoint"], row["provider"], row["model"], row["status"]) == ("vendor", "claude", "claude-fake", 200)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (usage["input_tokens"], usage["output_tokens"])
    assert row["cost_usd"] == pytest.approx((usage["input_tokens"] * 3 + usage["output_tokens"] * 15) / 1e6)
    start = next(f for f in frames if f["type"] == "message_start")["message"]["usage"]
    end = next(f for f in frames if f["type"] == "message_delta")["usage"]
    row = logged(gateway, streamed_id)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (start["input_tokens"], end["output_tokens"])
    meta = gem.json()["usageMetadata"]
    row = logged(gateway, gem.headers["x-request-id"])
    assert (row["provider"], row["model"]) == ("gem", "gemini-fake")
    assert row["prompt_tokens"] == meta["promptTokenCount"] and row["completion_tokens"] > 0
    last = json.loads(chunks[-1])["usage"]
    row = logged(gateway, chat_id)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (last["prompt_tokens"], last["completion_tokens"])
    assert row["provider"] == "fakeai" and row["cost_usd"] > 0


def test_the_callers_limits_apply_to_vendor_calls(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    key = "sk-poly-vendor-limited-0123456789ab"
    config = {
        "providers": [
            {
                "name": "up",
                "kind": "openai",
                "base_url": fake_openai.base_url + "/v1",
                "api_key": "sk-up-secret",
                "models": [{"id": "gpt-fake"}],
            }
        ],
        "api_keys": [{"name": "limited", "key": key, "limits": {"rpm": 2}}],
    }
    gw = start_gateway(tmp_path, config)
    try:
        body = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
        with _http(gw) as http:
            answers = [
                http.post("/vendors/up/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})
                for _ in range(3)
            ]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[0].headers["x-ratelimit-limit-requests"] == "2"
        assert answers[1].headers["x-ratelimit-remaining-requests"] == "0"
        refused = answers[2]
        assert refused.headers["x-error-code"] == "RATE_LIMITED" and int(refused.headers["retry-after"]) >= 1
        assert len(fake_openai.requests_for("/v1/chat/completions")) == 2  # the refused call never went upstream
    finally:
        gw.stop()


@pytest.mark.parametrize("prefix", ["/v1", "/openai/v1", "/api/v1"])
def test_every_alias_prefix_serves_every_dialect(gateway: GatewayProcess, prefix: str) -> None:
    """The one alias table (app/api/inference/aliases.py), through the SDKs the caller already has."""
    client = openai.OpenAI(api_key=gateway.api_key, base_url=gateway.base_url + prefix, max_retries=0)
    assert client.responses.create(model="claude/claude-fake", input="hi").output_text.endswith("You said: hi")
    assert client.embeddings.create(model="fakeai/text-embedding-fake", input="x").data
    assert client.images.generate(model="fakeai/gpt-image-fake", prompt="x").data
    assert "claude/claude-fake" in {m.id for m in client.models.list()}
    claude = anthropic.Anthropic(
        api_key=gateway.api_key, base_url=gateway.base_url + prefix.removesuffix("/v1"), max_retries=0
    )
    message = claude.messages.create(
        model="fakeai/gpt-fake", max_tokens=20, messages=[{"role": "user", "content": "a"}]
    )
    assert message.content[0].text.endswith("You said: a")  # type: ignore[union-attr]


def test_the_readme_lists_every_alias() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("| path (under `/v1`, `/openai/v1` and `/api/v1`) | dialect |", 1)[1].split("\n\n", 1)[0]
    for route in (*INFERENCE_ROUTES, *AUDIO_ROUTES):
        assert f" {route.suffix}`" in table, f"README's endpoint table lacks {route.suffix}"
    assert PREFIXES == ("/v1", "/openai/v1", "/api/v1")


def test_upstream_status_and_headers_come_back_minus_hop_by_hop_and_credentials(
    gateway: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    upstream_headers = {
        "x-upstream-thing": "kept",
        "openai-processing-ms": "12",
        "Set-Cookie": "session=upstream",
        "x-api-key": "sk-leaked-upstream",
        "Authorization": "Bearer sk-leaked-upstream",
        "Proxy-Authenticate": "Basic",
        "Keep-Alive": "timeout=5",
    }
    fake_openai.script("gpt-fake", {"status": 418, "body": {"teapot": True}, "headers": upstream_headers})
    body = {"model": "gpt-fake", "messages": [{"role": "user", "content": "x"}]}
    with _http(gateway) as http:
        resp = http.post(
            "/vendors/fakeai/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {gateway.api_key}"}
        )
    assert resp.status_code == 418 and resp.json() == {"teapot": True}
    assert resp.headers["x-upstream-thing"] == "kept" and resp.headers["openai-processing-ms"] == "12"
    for dropped in ("set-cookie", "x-api-key", "authorization", "proxy-authenticate", "keep-alive"):
        assert dropped not in resp.headers, dropped
    assert "sk-leaked-upstream" not in str(resp.headers)
    assert resp.headers["x-polyroute-provider"] == "fakeai"
