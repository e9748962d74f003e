"""Provider kind `azure`: Azure OpenAI's v1 API and its deployment API (`api_version`), with `api-key`
auth, driven by the official SDKs against a fake Azure resource."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.db_backends import gateway_on, sqlite_backend  # noqa: F401 (this module's `backend`: SQLite)
from tests.fakes.azure import FakeAzure
from tests.gateway_process import API_KEY, GatewayProcess

UPSTREAM_KEY = "azure-upstream-secret"
MESSAGES = [{"role": "user", "content": "Say hello"}]


def _models(*ids: str) -> list[dict[str, Any]]:
    return [{"id": m, "input_cost_per_mtok": 2.5, "output_cost_per_mtok": 10.0, "context_window": 128000} for m in ids]


def _config(fake: FakeAzure) -> dict[str, Any]:
    deployments = _models("gpt-fake", "text-embedding-fake", "fake-content-policy", "fake-500", "fake-chunks-12")
    return {
        "providers": [
            # The v1 API; the base URL may be given with its /openai/v1 suffix.
            {
                "name": "az1",
                "kind": "azure",
                "base_url": fake.base_url + "/openai/v1",
                "api_key": UPSTREAM_KEY,
                "models": deployments,
            },
            # The deployment API, the base URL being the resource endpoint.
            {
                "name": "az2",
                "kind": "azure",
                "base_url": fake.base_url,
                "api_key": UPSTREAM_KEY,
                "api_version": "2024-10-21",
                "models": deployments,
            },
            {
                "name": "az-old",
                "kind": "azure",
                "base_url": fake.base_url,
                "api_key": UPSTREAM_KEY,
                "api_version": "2023-05-15",
                "probe_interval_s": 0,
                "models": _models("gpt-fake"),
            },
            {
                "name": "az-2024",
                "kind": "azure",
                "base_url": fake.base_url,
                "api_key": UPSTREAM_KEY,
                "api_version": "2024-02-01",
                "probe_interval_s": 0,
                "models": _models("fake-chunks-12"),
            },
            {
                "name": "az-badkey",
                "kind": "azure",
                "base_url": fake.base_url,
                "api_key": "wrong",
                "probe_interval_s": 0,
                "models": _models("gpt-fake"),
            },
        ],
        "routes": [
            {
                "name": "route/azure",
                "targets": [
                    {"provider": "az-badkey", "model": "gpt-fake", "priority": 0},
                    {"provider": "az2", "model": "gpt-fake", "priority": 1},
                ],
            },
            {
                "name": "route/filtered",
                "targets": [
                    {"provider": "az2", "model": "fake-content-policy", "priority": 0},
                    {"provider": "az1", "model": "gpt-fake", "priority": 1},
                ],
            },
        ],
        "api_keys": [{"name": "k", "key": API_KEY}],
    }


@pytest.fixture(scope="module")
def fake_azure() -> Iterator[FakeAzure]:
    server = FakeAzure(api_key=UPSTREAM_KEY).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(backend: str, tmp_path_factory: pytest.TempPathFactory, fake_azure: FakeAzure) -> Iterator[GatewayProcess]:
    with gateway_on(backend, tmp_path_factory.mktemp("azure"), _config(fake_azure)) as gateway:
        yield gateway


@pytest.fixture(autouse=True)
def _clean(fake_azure: FakeAzure) -> None:
    fake_azure.reset()


def _generations(fake: FakeAzure) -> list[Any]:
    return [r for r in fake.received if r.method == "POST"]


def test_v1_api_takes_the_deployment_as_model_and_the_key_as_api_key(gw: GatewayProcess, fake_azure: FakeAzure) -> None:
    client = gw.openai()
    answer = client.chat.completions.create(model="az1/gpt-fake", messages=MESSAGES)
    assert answer.model == "az1/gpt-fake" and answer.choices[0].message.content
    (sent,) = _generations(fake_azure)
    assert (sent.path, sent.query) == ("/openai/v1/chat/completions", "")
    assert sent.json()["model"] == "gpt-fake"
    assert sent.headers["api-key"] == UPSTREAM_KEY
    assert "Authorization" not in sent.headers  # neither the caller's key nor a Bearer copy of ours
    assert API_KEY not in str(sent.headers)


def test_deployment_api_puts_the_deployment_and_version_in_the_url(gw: GatewayProcess, fake_azure: FakeAzure) -> None:
    stream = gw.openai().chat.completions.create(
        model="az2/fake-chunks-12", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    (sent,) = _generations(fake_azure)
    assert sent.path == "/openai/deployments/fake-chunks-12/chat/completions"
    assert sent.query == "api-version=2024-10-21"
    assert fake_azure.deployments == ["fake-chunks-12"]


@pytest.mark.parametrize(
    ("provider", "path", "query"),
    [
        ("az1", "/openai/v1/embeddings", ""),
        ("az2", "/openai/deployments/text-embedding-fake/embeddings", "api-version=2024-10-21"),
    ],
)
def test_embeddings_on_both_schemes(
    gw: GatewayProcess, fake_azure: FakeAzure, provider: str, path: str, query: str
) -> None:
    answer = gw.openai().embeddings.create(model=f"{provider}/text-embedding-fake", input=["a", "b"])
    assert len(answer.data) == 2 and answer.model == f"{provider}/text-embedding-fake"
    (sent,) = _generations(fake_azure)
    assert (sent.path, sent.query) == (path, query)


@pytest.mark.parametrize(
    ("provider", "path", "query"),
    [
        ("az1", "/openai/v1/responses", ""),
        ("az2", "/openai/responses", "api-version=2024-10-21"),
    ],
)
def test_responses_pass_through_natively(
    gw: GatewayProcess, fake_azure: FakeAzure, provider: str, path: str, query: str
) -> None:
    response = gw.openai().responses.create(model=f"{provider}/gpt-fake", input="Say hello")
    assert response.output_text and response.model == f"{provider}/gpt-fake"
    (sent,) = _generations(fake_azure)
    assert (sent.path, sent.query) == (path, query)
    assert sent.json()["model"] == "gpt-fake"  # Responses are not per deployment: the model names it


def test_anthropic_callers_are_translated_to_the_deployment(gw: GatewayProcess, fake_azure: FakeAzure) -> None:
    message = gw.anthropic().messages.create(model="az2/gpt-fake", max_tokens=64, messages=MESSAGES)
    assert message.content[0].type == "text" and message.content[0].text
    (sent,) = _generations(fake_azure)
    assert sent.path == "/openai/deployments/gpt-fake/chat/completions"
    assert sent.json()["messages"][-1]["content"] == "Say hello"


def test_a_rejected_key_fails_over_and_the_call_is_accounted(gw: GatewayProcess, fake_azure: FakeAzure) -> None:
    resp = gw.http().post(
        "/v1/chat/completions",
        json={"model": "route/azure", "messages": MESSAGES},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-polyroute-provider"] == "az2" and resp.headers["x-polyroute-attempts"] == "2"
    row = gw.logged(resp.headers["x-request-id"])
    assert (row["provider"], row["model"]) == ("az2", "gpt-fake")
    usage = resp.json()["usage"]
    assert row["cost_usd"] == pytest.approx((usage["prompt_tokens"] * 2.5 + usage["completion_tokens"] * 10.0) / 1e6)


def test_content_filter_refusal_comes_back_without_fallback(gw: GatewayProcess, fake_azure: FakeAzure) -> None:
    message = (
        "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
        "Please modify your prompt and retry."
    )
    fake_azure.script(
        "fake-content-policy",
        {
            "status": 400,
            "body": {
                "error": {"message": message, "type": None, "param": "prompt", "code": "content_filter", "status": 400}
            },
        },
    )
    resp = gw.http().post(
        "/v1/chat/completions",
        json={"model": "route/filtered", "messages": MESSAGES},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert resp.status_code == 400, resp.text
    assert "content management policy" in resp.json()["error"]["message"]
    assert len(_generations(fake_azure)) == 1  # the refusal is the caller's answer, not a reason to try az1


def test_an_unknown_api_version_is_a_provider_error_naming_it(gw: GatewayProcess, fake_azure: FakeAzure) -> None:
    resp = gw.http().post(
        "/v1/chat/completions",
        json={"model": "az-old/gpt-fake", "messages": MESSAGES},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert resp.status_code == 502, resp.text
    (sent,) = _generations(fake_azure)
    assert sent.query == "api-version=2023-05-15"
    assert "Resource not found" in resp.text


def test_probe_lists_models_on_each_scheme(gw: GatewayProcess, fake_azure: FakeAzure) -> None:
    with gw.admin() as http:
        for name in ("az1", "az2"):
            resp = http.post(f"/v1/health/providers/{name}/probe")
            assert resp.status_code == 200, resp.text
            assert resp.json()["ok"] is True, resp.text
    probes = [(r.path, r.query) for r in fake_azure.received if r.method == "GET"]
    assert ("/openai/v1/models", "") in probes and ("/openai/models", "api-version=2024-10-21") in probes


def test_api_version_is_managed_through_the_api_and_refused_on_other_kinds(gw: GatewayProcess) -> None:
    with gw.admin() as http:
        created = http.post(
            "/v1/configs",
            json={
                "name": "az-api",
                "kind": "azure",
                "base_url": "https://res.openai.azure.com",
                "api_key": "k",
                "api_version": "2025-04-01-preview",
                "models": [{"id": "gpt-4o"}],
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["api_version"] == "2025-04-01-preview"
        patched = http.patch("/v1/configs/az-api", json={"api_version": None})
        assert patched.status_code == 200 and patched.json()["api_version"] is None
        bad = http.patch("/v1/configs/az-api", json={"api_version": "2024 10 21"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"].endswith("api_version")
        wrong_kind = http.post(
            "/v1/configs",
            json={
                "name": "oa-api",
                "kind": "openai",
                "base_url": "https://api.openai.com/v1",
                "api_version": "2024-10-21",
            },
        )
        assert wrong_kind.status_code == 422 and "only a provider of kind azure" in wrong_kind.text
        assert http.delete("/v1/configs/az-api").status_code == 204


# -- the gateway as an Azure OpenAI resource: applications written for AzureOpenAI change only the endpoint --


def _azure_client(gw: GatewayProcess, **kwargs: Any) -> Any:
    from openai import AzureOpenAI

    return AzureOpenAI(azure_endpoint=gw.base_url, api_key=API_KEY, api_version="2024-10-21", **kwargs)


def test_azure_openai_client_reaches_any_model_by_deployment_name(gw: GatewayProcess, fake_azure: FakeAzure) -> None:
    client = _azure_client(gw)
    raw = client.chat.completions.with_raw_response.create(model="route/azure", messages=MESSAGES)
    answer = raw.parse()
    assert answer.choices[0].message.content and answer.model == "az2/gpt-fake"
    assert raw.http_request.url.path == "/openai/deployments/route/azure/chat/completions"
    assert raw.http_request.headers["api-key"] == API_KEY  # the SDK's own auth header, accepted
    chunks = list(client.chat.completions.create(model="az1/fake-chunks-12", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    vectors = client.embeddings.create(model="az2/text-embedding-fake", input="x")
    assert len(vectors.data) == 1 and vectors.model == "az2/text-embedding-fake"
    assert "api-key" not in {k.lower() for r in fake_azure.received for k in r.headers if r.headers[k] == API_KEY}


def test_the_deployment_in_the_path_wins_over_the_body(gw: GatewayProcess, fake_azure: FakeAzure) -> None:
    client = _azure_client(gw, azure_deployment="az1/gpt-fake")
    answer = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert answer.model == "az1/gpt-fake"
    assert _generations(fake_azure)[-1].json()["model"] == "gpt-fake"


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/openai/deployments/az1/gpt-fake/chat/completions", b"{not json", 400, "JSON"),
        ("/openai/deployments/az1/gpt-fake/chat/completions", b'{"messages": "hi"}', 400, "messages"),
        ("/openai/deployments/az1/gpt-fake/chat/completions", b"{}", 400, "messages"),
        ("/openai/deployments/az1/gpt-fake/files", b"{}", 404, "deployment path"),
        ("/openai/deployments/az1", b"{}", 404, "deployment path"),
        ("/openai/deployments//chat/completions", b"{}", 404, "deployment path"),
        ("/openai/deployments/nope/chat/completions", b'{"messages": [{"role": "user", "content": "x"}]}', 400, "nope"),
    ],
)
def test_bad_requests_get_openai_shaped_errors(
    gw: GatewayProcess, path: str, body: bytes, status: int, words: str
) -> None:
    with gw.http() as http:
        resp = http.post(path, content=body, headers={"api-key": API_KEY, "content-type": "application/json"})
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert words in resp.json()["error"]["message"] and resp.headers["x-error-code"]


def test_oversized_and_unauthenticated_requests_are_refused(gw: GatewayProcess) -> None:
    path = "/openai/deployments/az1/gpt-fake/chat/completions"
    with gw.http() as http:
        big = http.post(path, content=b"x" * (21 * 1024 * 1024), headers={"api-key": API_KEY})
        assert big.status_code == 413 and big.json()["error"]["message"]
        anon = http.post(path, json={"messages": MESSAGES}, headers={"api-key": "wrong"})
        assert anon.status_code == 401 and anon.headers["x-error-code"] == "AUTHENTICATION_ERROR"


def test_an_api_version_before_stream_usage_streams_and_is_counted_by_estimate(
    gw: GatewayProcess, fake_azure: FakeAzure
) -> None:
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="az-2024/fake-chunks-12", messages=MESSAGES, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text
    (sent,) = _generations(fake_azure)
    assert sent.query == "api-version=2024-02-01" and "stream_options" not in sent.json()
    row = gw.logged(raw.headers["x-request-id"])
    assert row["completion_tokens"] > 0 and row["estimated"] is True
