"""/vendors/{provider}/{path}: native APIs with our key swapped for the provider's credentials."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess

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
