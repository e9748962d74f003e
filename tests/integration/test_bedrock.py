"""Provider kind `bedrock`: Claude on AWS Bedrock through InvokeModel, SigV4-signed or with a Bedrock API key,
driven by the official SDKs against a fake Bedrock runtime that verifies signatures with botocore."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.db_backends import gateway_on, sqlite_backend  # noqa: F401 (this module's `backend`: SQLite)
from tests.fakes.bedrock import FakeBedrock
from tests.gateway_process import API_KEY, GatewayProcess

ACCESS_KEY, SECRET_KEY = "AKIAFAKEBEDROCK00001", "fAkE/SeCrEt+Key0123456789abcdefghijklmno"
BEDROCK_API_KEY = "ABSKZmFrZS1iZWRyb2NrLWFwaS1rZXk="
HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
MESSAGES = [{"role": "user", "content": "Say hello"}]
MODELS = [HAIKU, SONNET, "fake-chunks-20", "fake-stream-error", "fake-context", "fake-429", "fake-tool"]


def _provider(name: str, fake: FakeBedrock, api_key: str, **extra: Any) -> dict[str, Any]:
    models = [
        {"id": m, "input_cost_per_mtok": 1.0, "output_cost_per_mtok": 5.0, "context_window": 200000} for m in MODELS
    ]
    return {
        "name": name,
        "kind": "bedrock",
        "base_url": fake.base_url,
        "api_key": api_key,
        "timeout_s": 5,
        "models": models,
        **extra,
    }


def _config(fake: FakeBedrock) -> dict[str, Any]:
    return {
        "providers": [
            _provider("br", fake, f"{ACCESS_KEY}:{SECRET_KEY}", region="us-west-2"),
            _provider("brkey", fake, BEDROCK_API_KEY),
            _provider("br-wrong", fake, f"{ACCESS_KEY}:not-the-secret", region="us-west-2", probe_interval_s=0),
            _provider("br-east", fake, f"{ACCESS_KEY}:{SECRET_KEY}", probe_interval_s=0),
        ],
        "routes": [
            {
                "name": "route/claude",
                "targets": [
                    {"provider": "br-wrong", "model": HAIKU, "priority": 0},
                    {"provider": "br", "model": "fake-429", "priority": 1},
                    {"provider": "brkey", "model": HAIKU, "priority": 2},
                ],
            },
        ],
        "api_keys": [{"name": "k", "key": API_KEY}],
    }


@pytest.fixture(scope="module")
def fake_bedrock() -> Iterator[FakeBedrock]:
    server = FakeBedrock(api_key=BEDROCK_API_KEY, access_key=ACCESS_KEY, secret_key=SECRET_KEY, region="us-west-2")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(backend: str, tmp_path_factory: pytest.TempPathFactory, fake_bedrock: FakeBedrock) -> Iterator[GatewayProcess]:
    with gateway_on(backend, tmp_path_factory.mktemp("bedrock"), _config(fake_bedrock)) as gateway:
        yield gateway


@pytest.fixture(autouse=True)
def _clean(fake_bedrock: FakeBedrock) -> None:
    fake_bedrock.reset()


def _post(gw: GatewayProcess, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    with gw.http() as http:
        return http.post(path, json=body, headers={"Authorization": f"Bearer {API_KEY}", **headers})


def test_anthropic_sdk_message_is_signed_and_shaped_for_bedrock(gw: GatewayProcess, fake_bedrock: FakeBedrock) -> None:
    raw = gw.anthropic().messages.with_raw_response.create(model=f"br/{HAIKU}", max_tokens=100, messages=MESSAGES)
    message = raw.parse()
    assert message.model == f"br/{HAIKU}" and message.content[0].type == "text" and message.content[0].text
    (call,) = fake_bedrock.calls
    assert (call.model_id, call.stream, call.auth) == (HAIKU, False, "sigv4")  # botocore verified the signature
    assert call.body["anthropic_version"] == "bedrock-2023-05-31"
    assert "model" not in call.body and "stream" not in call.body and call.body["max_tokens"] == 100
    assert "/us-west-2/bedrock/aws4_request" in call.headers["Authorization"]
    assert API_KEY not in json.dumps(call.headers)
    row = gw.logged(raw.headers["x-request-id"])
    assert (row["provider"], row["model"]) == ("br", HAIKU)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (message.usage.input_tokens, message.usage.output_tokens)


def test_anthropic_stream_is_decoded_from_the_event_stream(gw: GatewayProcess, fake_bedrock: FakeBedrock) -> None:
    with gw.anthropic().messages.stream(model=f"br/{SONNET}", max_tokens=100, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.content[0].text == text and final.usage.output_tokens > 0
    (call,) = fake_bedrock.calls
    assert (call.model_id, call.stream) == (SONNET, True)
    assert call.path == f"/model/{SONNET}/invoke-with-response-stream"


def test_openai_callers_are_translated_whole_and_streamed(gw: GatewayProcess, fake_bedrock: FakeBedrock) -> None:
    client = gw.openai()
    answer = client.chat.completions.create(model=f"br/{HAIKU}", messages=MESSAGES)
    assert answer.choices[0].message.content and answer.model == f"br/{HAIKU}"
    chunks = list(
        client.chat.completions.create(
            model="br/fake-chunks-20", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 10 and text  # as streamed
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert [c.body["max_tokens"] for c in fake_bedrock.calls] == [4096, 4096]  # Anthropic's required field


def test_a_bedrock_api_key_is_sent_as_a_bearer_token(gw: GatewayProcess, fake_bedrock: FakeBedrock) -> None:
    resp = _post(gw, "/v1/messages", {"model": f"brkey/{HAIKU}", "max_tokens": 50, "messages": MESSAGES})
    assert resp.status_code == 200, resp.text
    (call,) = fake_bedrock.calls
    assert call.auth == "bearer" and call.headers["Authorization"] == f"Bearer {BEDROCK_API_KEY}"


def test_the_callers_betas_go_in_the_signed_body(gw: GatewayProcess, fake_bedrock: FakeBedrock) -> None:
    body = {"model": f"br/{HAIKU}", "max_tokens": 50, "messages": MESSAGES}
    resp = _post(
        gw, "/v1/messages", body, **{"anthropic-beta": "context-1m-2025-08-07,interleaved-thinking-2025-05-14"}
    )
    assert resp.status_code == 200, resp.text  # a body changed after signing would fail the fake's check
    (call,) = fake_bedrock.calls
    assert call.anthropic_beta == ["context-1m-2025-08-07", "interleaved-thinking-2025-05-14"]
    assert "anthropic-beta" not in {k.lower() for k in call.headers}


def test_failover_across_a_bad_signature_and_throttling(gw: GatewayProcess, fake_bedrock: FakeBedrock) -> None:
    resp = _post(gw, "/v1/chat/completions", {"model": "route/claude", "messages": MESSAGES})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-polyroute-provider"] == "brkey"
    outcomes = [(a["provider"], a["status"]) for a in gw.logged(resp.headers["x-request-id"])["attempts"]]
    assert outcomes[0] == ("br-wrong", 403) and ("br", 429) in outcomes and outcomes[-1] == ("brkey", 200)


def test_the_region_comes_from_the_setting_else_the_default(gw: GatewayProcess, fake_bedrock: FakeBedrock) -> None:
    # The fake expects us-west-2: br-east (no region, a loopback host) signs for us-east-1 and is refused.
    resp = _post(gw, "/v1/messages", {"model": f"br-east/{HAIKU}", "max_tokens": 50, "messages": MESSAGES})
    assert resp.status_code == 502, resp.text
    assert "/us-east-1/bedrock/aws4_request" in fake_bedrock.calls[0].headers["Authorization"]


def test_a_prompt_over_the_window_is_a_context_error(gw: GatewayProcess) -> None:
    resp = _post(gw, "/v1/messages", {"model": "br/fake-context", "max_tokens": 50, "messages": MESSAGES})
    assert resp.status_code == 400, resp.text
    assert resp.headers["x-error-code"] == "CONTEXT_LENGTH_EXCEEDED"
    assert resp.json()["error"]["type"] == "invalid_request_error"  # what the Anthropic SDK parses


def test_a_mid_stream_exception_ends_the_stream_with_an_error_event(
    gw: GatewayProcess, fake_bedrock: FakeBedrock
) -> None:
    # Events apart in time, so the exception comes after text reached the caller: in one read, the
    # attempt would fail before its first byte and (rightly) fall back instead.
    fake_bedrock.script("fake-stream-error", {"chunk_delay_ms": 40})
    body = {"model": "br/fake-stream-error", "max_tokens": 50, "messages": MESSAGES, "stream": True}
    with (
        gw.http() as http,
        http.stream("POST", "/v1/messages", json=body, headers={"Authorization": f"Bearer {API_KEY}"}) as resp,
    ):
        text = resp.read().decode()
    assert resp.status_code == 200
    assert "event: message_start" in text
    assert text.rstrip().split("\n\n")[-1].startswith("event: error")
    assert "message_stop" not in text


def test_probe_lists_foundation_models(gw: GatewayProcess, fake_bedrock: FakeBedrock) -> None:
    with gw.admin() as http:
        resp = http.post("/v1/health/providers/br/probe")
    assert resp.status_code == 200 and resp.json()["ok"] is True, resp.text
    probe = [r for r in fake_bedrock.received if r.method == "GET"][-1]
    assert probe.path == "/foundation-models" and probe.headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")


def test_vendor_passthrough_is_signed_and_accounted(gw: GatewayProcess, fake_bedrock: FakeBedrock) -> None:
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 40, "messages": MESSAGES}
    resp = _post(gw, f"/vendors/br/model/{HAIKU}/invoke", body)
    assert resp.status_code == 200, resp.text
    assert fake_bedrock.calls[-1].auth == "sigv4"
    row = gw.logged(resp.headers["x-request-id"])
    assert row["model"] == HAIKU and row["completion_tokens"] == resp.json()["usage"]["output_tokens"]


def test_credentials_are_checked_when_saved(gw: GatewayProcess) -> None:
    with gw.admin() as http:
        bad = http.post(
            "/v1/configs",
            json={
                "name": "br-bad",
                "kind": "bedrock",
                "base_url": "https://bedrock-runtime.eu-west-1.amazonaws.com",
                "api_key": "AKIA:secret:token:extra",
            },
        )
        assert bad.status_code == 422 and "ACCESS_KEY_ID:SECRET_ACCESS_KEY" in bad.text
        assert "AKIA:secret" not in bad.text  # the credential is not echoed back
        region = http.post(
            "/v1/configs",
            json={
                "name": "oa-region",
                "kind": "openai",
                "base_url": "https://api.openai.com/v1",
                "region": "us-east-1",
            },
        )
        assert region.status_code == 422 and "only a provider of kind bedrock" in region.text
        ok = http.post(
            "/v1/configs",
            json={
                "name": "br-ok",
                "kind": "bedrock",
                "base_url": "https://bedrock-runtime.eu-west-1.amazonaws.com",
                "api_key": f"{ACCESS_KEY}:{SECRET_KEY}",
                "models": [{"id": HAIKU}],
            },
        )
        assert ok.status_code == 201, ok.text
        assert SECRET_KEY not in ok.text and ok.json()["api_key_hint"]
        assert http.delete("/v1/configs/br-ok").status_code == 204


def test_no_background_probe_can_mark_bedrock_down(gw: GatewayProcess, fake_bedrock: FakeBedrock) -> None:
    time.sleep(1.5)  # the prober ticks every second and probes a provider first at once
    with gw.admin() as http:
        health = {p["name"]: p for p in http.get("/v1/health/providers").json()["data"]}
    assert health["brkey"]["probe"] is None  # never probed, so never refused by the control plane
    assert all(m["breaker"] == "closed" for m in health["brkey"]["models"])
