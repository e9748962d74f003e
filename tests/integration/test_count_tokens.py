"""`client.messages.count_tokens` through the gateway: Anthropic's own count where the model has an
Anthropic target, an estimate (flagged) elsewhere, errors in Anthropic's shape."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.usefixtures("fakes_reset")

MESSAGES = [{"role": "user", "content": "How many tokens is this sentence?"}]


def test_an_anthropic_model_is_counted_by_anthropic(gateway: GatewayProcess, fake_anthropic: FakeAnthropic) -> None:
    client = gateway.anthropic()
    raw = client.messages.with_raw_response.count_tokens(
        model="claude/claude-fake",
        messages=MESSAGES,
        system="Be brief.",  # type: ignore[arg-type]
    )
    counted = raw.parse()
    assert counted.input_tokens == 1000 + len(json.dumps(MESSAGES[0]["content"]))  # the fake's own count
    assert raw.headers["x-polyroute-estimated"] == "false"
    assert raw.headers["x-polyroute-model"] == "claude/claude-fake"
    [sent] = fake_anthropic.requests_for("/v1/messages/count_tokens")
    body = sent.json()
    assert body["model"] == "claude-fake" and body["system"] == "Be brief." and body["messages"] == MESSAGES
    assert sent.headers["x-api-key"] == "sk-ant-upstream-secret"
    assert gateway.api_key not in sent.body.decode() + json.dumps(dict(sent.headers))


def test_other_models_get_an_estimate_that_grows_with_the_text(gateway: GatewayProcess) -> None:
    client = gateway.anthropic()
    short = client.messages.with_raw_response.count_tokens(model="fakeai/gpt-fake", messages=MESSAGES)  # type: ignore[arg-type]
    assert short.headers["x-polyroute-estimated"] == "true"
    long = client.messages.count_tokens(
        model="gem/gemini-fake",
        messages=[{"role": "user", "content": "word " * 300}],
        tools=[{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
    )
    assert 0 < short.parse().input_tokens < 30 < 300 <= long.input_tokens


def test_an_unreachable_anthropic_upstream_falls_back_to_the_estimate(gateway: GatewayProcess) -> None:
    raw = gateway.anthropic().messages.with_raw_response.count_tokens(model="claude/fake-500", messages=MESSAGES)  # type: ignore[arg-type]
    assert raw.headers["x-polyroute-estimated"] == "true" and 0 < raw.parse().input_tokens < 1000


def test_what_anthropic_refuses_comes_back_as_its_error(gateway: GatewayProcess) -> None:
    with pytest.raises(anthropic.BadRequestError) as err:
        gateway.anthropic().messages.count_tokens(model="claude/fake-400", messages=MESSAGES)  # type: ignore[arg-type]
    assert "fake error 400" in err.value.message


@pytest.mark.parametrize(
    ("raw", "status", "needle"),
    [
        (b'{"model": "claude/claude-fake", "messages": [', 400, "not valid JSON"),
        (b"[]", 400, "JSON object"),
        (b'{"model": "claude/claude-fake"}', 400, "messages"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', 400, "model"),
        (b'{"model": "claude/claude-fake", "messages": [{"role": "robot", "content": "x"}]}', 400, "role"),
        (b'{"model": "claude/claude-fake", "messages": "hi"}', 400, "messages"),
        (b'{"model": "nope/none", "messages": [{"role": "user", "content": "x"}]}', 400, "Unknown model"),
    ],
)
def test_bad_bodies_are_anthropic_errors(gateway: GatewayProcess, raw: bytes, status: int, needle: str) -> None:
    headers = {"x-api-key": gateway.api_key, "content-type": "application/json"}
    with gateway.http() as http:
        resp = http.post("/v1/messages/count_tokens", content=raw, headers=headers)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json") and resp.headers["x-error-code"]
    body = resp.json()
    assert needle in body["detail"] and body["error"]["type"] == "invalid_request_error"


def test_keys_and_plans_are_checked(gateway: GatewayProcess) -> None:
    with pytest.raises(anthropic.AuthenticationError):
        gateway.anthropic(key="sk-poly-wrong-0123456789abcdefghij").messages.count_tokens(
            model="claude/claude-fake",
            messages=MESSAGES,  # type: ignore[arg-type]
        )
    with pytest.raises(anthropic.PermissionDeniedError):
        gateway.anthropic(key="sk-poly-free-0123456789abcdefghij").messages.count_tokens(
            model="claude/claude-fake",
            messages=MESSAGES,  # type: ignore[arg-type]
        )


def test_an_oversized_body_is_413(gateway: GatewayProcess) -> None:
    raw = b'{"model": "claude/claude-fake", "pad": "' + b"a" * (20 * 1024 * 1024 + 10) + b'"}'
    headers = {"x-api-key": gateway.api_key, "content-type": "application/json"}
    with httpx.Client(base_url=gateway.base_url, timeout=30) as http:
        resp = http.post("/v1/messages/count_tokens", content=raw, headers=headers)
    assert resp.status_code == 413 and resp.headers["x-error-code"] == "PAYLOAD_TOO_LARGE"
