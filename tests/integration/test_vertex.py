"""Provider kinds `vertex` (Gemini) and `vertex-anthropic` (Claude) on Google Vertex AI: a service account's
access tokens got, kept and renewed by the gateway, express-mode API keys, and Vertex's URLs and bodies,
driven by the official SDKs against a fake Vertex project with its token endpoint."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.db_backends import gateway_on, sqlite_backend  # noqa: F401 (this module's `backend`: SQLite)
from tests.fakes.vertex import PROJECT_PREFIX, FakeVertex
from tests.gateway_process import API_KEY, GatewayProcess

MESSAGES = [{"role": "user", "content": "Say hello"}]
GEMINI = [
    {"id": m, "input_cost_per_mtok": 0.3, "output_cost_per_mtok": 2.5}
    for m in ("gemini-fake", "fake-500", "text-embedding-005")
]
CLAUDE = [{"id": m, "input_cost_per_mtok": 3, "output_cost_per_mtok": 15} for m in ("claude-fake", "fake-chunks-30")]


def _config(fake: FakeVertex) -> dict[str, Any]:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "providers": [
            {"name": "vx", "kind": "vertex", "base_url": fake.base, "api_key": fake.key_file(), "models": GEMINI},
            {
                "name": "vc",
                "kind": "vertex-anthropic",
                "base_url": fake.base,
                "api_key": fake.key_file(),
                "models": CLAUDE,
            },
            {
                "name": "vx-express",
                "kind": "vertex",
                "base_url": fake.base,
                "api_key": "vertex-express-key",
                "probe_interval_s": 0,
                "models": GEMINI,
            },
            {
                "name": "vx-bad",
                "kind": "vertex",
                "base_url": fake.base,
                "api_key": fake.key_file(other_key, "bad"),
                "probe_interval_s": 0,
                "models": GEMINI,
            },
            {
                "name": "vx-short",
                "kind": "vertex",
                "base_url": fake.base,
                "api_key": fake.key_file(key_id="short"),
                "probe_interval_s": 0,
                "models": GEMINI,
            },
        ],
        "routes": [
            {
                "name": "route/vertex",
                "targets": [
                    {"provider": "vx-bad", "model": "gemini-fake", "priority": 0},
                    {"provider": "vc", "model": "claude-fake", "priority": 1},
                ],
            },
        ],
        "api_keys": [{"name": "k", "key": API_KEY}],
    }


@pytest.fixture(scope="module")
def fake_vertex() -> Iterator[FakeVertex]:
    server = FakeVertex()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(backend: str, tmp_path_factory: pytest.TempPathFactory, fake_vertex: FakeVertex) -> Iterator[GatewayProcess]:
    with gateway_on(backend, tmp_path_factory.mktemp("vertex"), _config(fake_vertex)) as gateway:
        yield gateway


@pytest.fixture(autouse=True)
def _clean(fake_vertex: FakeVertex) -> None:
    fake_vertex.reset()


def _posts(fake: FakeVertex) -> list[Any]:
    return [r for r in fake.received if r.method == "POST" and r.path != "/token"]


def _post(gw: GatewayProcess, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    with gw.http() as http:
        return http.post(path, json=body, headers={"Authorization": f"Bearer {API_KEY}", **headers})


def test_gemini_calls_carry_one_kept_access_token(gw: GatewayProcess, fake_vertex: FakeVertex) -> None:
    client = gw.openai()
    answers = [client.chat.completions.create(model="vx/gemini-fake", messages=MESSAGES) for _ in range(3)]
    assert all(a.choices[0].message.content and a.model == "vx/gemini-fake" for a in answers)
    sent = _posts(fake_vertex)
    assert [r.path for r in sent] == [f"{PROJECT_PREFIX}/publishers/google/models/gemini-fake:generateContent"] * 3
    tokens = {r.headers["Authorization"] for r in sent}
    assert len(tokens) == 1 and next(iter(tokens)).startswith("Bearer ya29.fake-")
    assert all(API_KEY not in str(r.headers) for r in sent)
    # one token for the account, whatever the number of calls (none fetched here if an earlier test got it)
    assert sum(1 for r in fake_vertex.received if r.path == "/token") <= 1


def test_gemini_stream(gw: GatewayProcess, fake_vertex: FakeVertex) -> None:
    chunks = list(
        gw.openai().chat.completions.create(
            model="vx/gemini-fake", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0
    (sent,) = _posts(fake_vertex)
    assert sent.path.endswith("/gemini-fake:streamGenerateContent") and sent.query == "alt=sse"


def test_claude_on_vertex_whole_and_streamed(gw: GatewayProcess, fake_vertex: FakeVertex) -> None:
    client = gw.anthropic()
    message = client.messages.create(model="vc/claude-fake", max_tokens=64, messages=MESSAGES)
    assert message.model == "vc/claude-fake" and message.content[0].text
    with client.messages.stream(model="vc/fake-chunks-30", max_tokens=64, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.usage.output_tokens > 0
    whole, streamed = _posts(fake_vertex)  # the fake refused `model` in the body and a wrong version
    assert whole.path == f"{PROJECT_PREFIX}/publishers/anthropic/models/claude-fake:rawPredict"
    assert streamed.path == f"{PROJECT_PREFIX}/publishers/anthropic/models/fake-chunks-30:streamRawPredict"
    assert whole.json()["anthropic_version"] == "vertex-2023-10-16" and "model" not in whole.json()
    assert whole.headers["Authorization"].startswith("Bearer ya29.fake-")


def test_openai_callers_reach_claude_on_vertex_with_their_betas(gw: GatewayProcess, fake_vertex: FakeVertex) -> None:
    resp = _post(
        gw,
        "/v1/messages",
        {"model": "vc/claude-fake", "max_tokens": 40, "messages": MESSAGES},
        **{"anthropic-beta": "context-1m-2025-08-07"},
    )
    assert resp.status_code == 200, resp.text
    answer = gw.openai().chat.completions.create(model="vc/claude-fake", messages=MESSAGES)
    assert answer.choices[0].message.content
    beta, chat = _posts(fake_vertex)
    assert beta.headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert chat.json()["messages"] == MESSAGES and chat.json()["max_tokens"] == 4096


def test_express_mode_api_key(gw: GatewayProcess, fake_vertex: FakeVertex) -> None:
    answer = gw.openai().chat.completions.create(model="vx-express/gemini-fake", messages=MESSAGES)
    assert answer.choices[0].message.content
    (sent,) = _posts(fake_vertex)
    assert sent.headers["x-goog-api-key"] == "vertex-express-key" and "Authorization" not in sent.headers


def test_a_refused_service_account_fails_over(gw: GatewayProcess, fake_vertex: FakeVertex) -> None:
    resp = _post(gw, "/v1/chat/completions", {"model": "route/vertex", "messages": MESSAGES})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-polyroute-provider"] == "vc"
    first = gw.logged(resp.headers["x-request-id"])["attempts"][0]
    assert first["provider"] == "vx-bad" and "no Google access token" in first["error"]
    assert "Invalid JWT" in first["error"]
    assert "PRIVATE KEY" not in str(gw.logged(resp.headers["x-request-id"]))


def test_a_token_near_its_expiry_is_renewed(gw: GatewayProcess, fake_vertex: FakeVertex) -> None:
    fake_vertex.token_lifetime_s = 301  # usable for one second: tokens are replaced 5 minutes early
    client = gw.openai()
    client.chat.completions.create(model="vx-short/gemini-fake", messages=MESSAGES)
    time.sleep(1.2)
    client.chat.completions.create(model="vx-short/gemini-fake", messages=MESSAGES)
    first, second = (r.headers["Authorization"] for r in _posts(fake_vertex))
    assert first != second
    assert sum(1 for r in fake_vertex.received if r.path == "/token") == 2


def test_probe_lists_the_projects_models(gw: GatewayProcess, fake_vertex: FakeVertex) -> None:
    with gw.admin() as http:
        for name in ("vx", "vc"):
            resp = http.post(f"/v1/health/providers/{name}/probe")
            assert resp.status_code == 200 and resp.json()["ok"] is True, resp.text
    probes = [r for r in fake_vertex.received if r.method == "GET"]
    assert {r.path for r in probes} == {f"{PROJECT_PREFIX}/models"}
    assert all(r.headers["Authorization"].startswith("Bearer ya29.") for r in probes)


def test_embeddings_through_predict(gw: GatewayProcess, fake_vertex: FakeVertex) -> None:
    raw = gw.openai().embeddings.with_raw_response.create(
        model="vx/text-embedding-005", input=["hello there", "general kenobi"], dimensions=16
    )
    answer = raw.parse()
    assert [len(d.embedding) for d in answer.data] == [16, 16] and answer.model == "vx/text-embedding-005"
    assert answer.data[0].embedding != answer.data[1].embedding
    assert answer.usage.prompt_tokens == 6  # Vertex's own count (the fake's: words plus one), not an estimate
    (sent,) = _posts(fake_vertex)
    assert sent.path == f"{PROJECT_PREFIX}/publishers/google/models/text-embedding-005:predict"
    assert sent.json() == {
        "instances": [{"content": "hello there"}, {"content": "general kenobi"}],
        "parameters": {"outputDimensionality": 16},
    }
    row = gw.logged(raw.headers["x-request-id"])
    assert (row["prompt_tokens"], row["estimated"]) == (6, False)
    encoded = gw.openai().embeddings.create(
        model="vx/text-embedding-005", input="hello there", encoding_format="base64"
    )
    assert encoded.data[0].embedding  # the SDK decoded our base64 floats


def test_token_array_embeddings_are_refused(gw: GatewayProcess) -> None:
    resp = _post(gw, "/v1/embeddings", {"model": "vx/text-embedding-005", "input": [[1, 2, 3]]})
    assert resp.status_code == 400 and "token-array" in resp.json()["error"]["message"]


def test_vendor_passthrough_gets_a_token_and_is_accounted(gw: GatewayProcess, fake_vertex: FakeVertex) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]}
    resp = _post(gw, f"/vendors/vx{PROJECT_PREFIX}/publishers/google/models/gemini-fake:generateContent", body)
    assert resp.status_code == 200, resp.text
    (sent,) = _posts(fake_vertex)
    assert sent.headers["Authorization"].startswith("Bearer ya29.fake-")
    row = gw.logged(resp.headers["x-request-id"])
    assert row["model"] == "gemini-fake"
    assert row["completion_tokens"] == resp.json()["usageMetadata"]["candidatesTokenCount"]


def test_key_files_are_checked_when_saved(gw: GatewayProcess, fake_vertex: FakeVertex) -> None:
    with gw.admin() as http:
        bad = http.post(
            "/v1/configs",
            json={
                "name": "vx-new",
                "kind": "vertex",
                "base_url": fake_vertex.base,
                "api_key": '{"type": "authorized_user", "client_email": "a", "private_key": "b"}',
            },
        )
        assert bad.status_code == 422 and "not 'service_account'" in bad.text
        ok = http.post(
            "/v1/configs",
            json={
                "name": "vx-new",
                "kind": "vertex",
                "base_url": fake_vertex.base,
                "api_key": fake_vertex.key_file(),
                "models": [{"id": "gemini-fake"}],
            },
        )
        assert ok.status_code == 201, ok.text
        assert "PRIVATE KEY" not in ok.text
        assert http.delete("/v1/configs/vx-new").status_code == 204


def test_claude_token_count_is_vertexs_own(gw: GatewayProcess, fake_vertex: FakeVertex) -> None:
    resp = _post(gw, "/v1/messages/count_tokens", {"model": "vc/claude-fake", "messages": MESSAGES})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-polyroute-estimated"] == "false" and resp.headers["x-polyroute-model"] == "vc/claude-fake"
    (counted,) = fake_vertex.counted
    assert counted["model"] == "claude-fake"
    assert resp.json()["input_tokens"] == 1000 + len(json.dumps(MESSAGES[0]["content"]))
