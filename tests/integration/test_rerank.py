"""`POST /v1/rerank` (and Cohere's `/v2/rerank`) through the router: passed through to rerank servers
(vLLM, llama.cpp, Jina, Cohere, Together), `model` renamed, usage and cost recorded, bad input refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.db_backends import gateway_on
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY, GatewayProcess

pytestmark = pytest.mark.usefixtures("fakes_reset")

DOCS = ["Paris is the capital of France", "Bananas are yellow", {"text": "The capital of Japan is Tokyo"}]


def _config(rerank: FakeOpenAI, chat: FakeOpenAI) -> dict[str, Any]:
    return {
        "providers": [
            {
                "name": "rr",
                "kind": "openai-compatible",
                "base_url": rerank.base_url + "/v1",
                "api_key": "sk-rerank-upstream",
                "probe_interval_s": 0,
                "models": [
                    {"id": "rerank-fake", "input_cost_per_mtok": 0.05},
                    {"id": "cohere-like", "cost_per_request": 0.002},
                    {"id": "fake-400"},
                ],
            },
            {
                "name": "oa",
                "kind": "openai",
                "base_url": chat.base_url + "/v1",
                "api_key": "sk-oa",
                "probe_interval_s": 0,
                "models": [{"id": "gpt-fake"}],
            },
        ],
        "api_keys": [{"name": "test", "key": API_KEY}],
    }


@pytest.fixture(scope="module")
def gw(
    backend: str, tmp_path_factory: pytest.TempPathFactory, fake_backup: FakeOpenAI, fake_openai: FakeOpenAI
) -> Iterator[GatewayProcess]:
    with gateway_on(backend, tmp_path_factory.mktemp("rerank"), _config(fake_backup, fake_openai)) as gateway:
        yield gateway


def _post(gw: GatewayProcess, path: str, body: Any = None, raw: bytes | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {API_KEY}", "content-type": "application/json"}
    with httpx.Client(base_url=gw.base_url, timeout=30, headers=headers) as http:
        return http.post(path, content=raw) if raw is not None else http.post(path, json=body)


def test_documents_come_back_ranked_and_the_call_is_accounted(gw: GatewayProcess, fake_backup: FakeOpenAI) -> None:
    body = {"model": "rr/rerank-fake", "query": "capital of France", "documents": DOCS, "top_n": 2}
    resp = _post(gw, "/v1/rerank", {**body, "return_documents": True})
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["model"] == "rr/rerank-fake" and resp.headers["x-polyroute-provider"] == "rr"
    assert [r["index"] for r in answer["results"]] == [0, 2]
    assert answer["results"][0]["document"] == {"text": "Paris is the capital of France"}
    sent = fake_backup.requests_for("/v1/rerank")[-1]
    assert sent.json()["model"] == "rerank-fake" and sent.json()["documents"] == DOCS
    assert sent.headers["Authorization"] == "Bearer sk-rerank-upstream"
    row = gw.logged(resp.headers["x-request-id"])
    tokens = answer["usage"]["total_tokens"]
    assert (row["endpoint"], row["model"], row["prompt_tokens"]) == ("rerank", "rerank-fake", tokens)
    assert row["cost_usd"] == pytest.approx(tokens * 0.05 / 1e6)


def test_cohere_sdk_path_and_search_units_priced_per_request(gw: GatewayProcess, fake_backup: FakeOpenAI) -> None:
    fake_backup.script("cohere-like", {"meta": True})
    resp = _post(gw, "/v2/rerank", {"model": "rr/cohere-like", "query": "yellow fruit", "documents": DOCS})
    assert resp.status_code == 200, resp.text
    assert resp.json()["results"][0]["index"] == 1 and "model" not in resp.json()  # Cohere names no model
    row = gw.logged(resp.headers["x-request-id"])
    assert row["prompt_tokens"] == 0 and row["cost_usd"] == pytest.approx(0.002)


def test_a_provider_without_rerank_is_refused_by_name(gw: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    resp = _post(gw, "/v1/rerank", {"model": "oa/gpt-fake", "query": "q", "documents": ["d"]})
    assert resp.status_code == 400 and "Rerank is not supported by openai" in resp.json()["detail"]
    assert not fake_openai.requests_for("/rerank")


def test_an_upstream_refusal_comes_back_as_its_status(gw: GatewayProcess) -> None:
    resp = _post(gw, "/api/v1/rerank", {"model": "rr/fake-400", "query": "q", "documents": ["d"]})
    assert resp.status_code == 400 and resp.json()["error"]["message"]


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b'{"model": "rr/rerank-fake", "query": "q", "documents": [', "not valid JSON"),
        (b'"rerank"', "JSON object"),
        (b'{"model": "rr/rerank-fake", "documents": ["a"]}', "query"),
        (b'{"query": "q", "documents": ["a"]}', "model"),
        (b'{"model": "rr/rerank-fake", "query": "q", "documents": []}', "documents"),
        (b'{"model": "rr/rerank-fake", "query": "q"}', "documents"),
        (b'{"model": "rr/rerank-fake", "query": "q", "documents": [7]}', "documents"),
        (b'{"model": "rr/rerank-fake", "query": 5, "documents": ["a"]}', "query"),
        (b'{"model": "rr/rerank-fake", "query": "q", "documents": ["a"], "top_n": 0}', "top_n"),
    ],
)
def test_bad_bodies_are_400(gw: GatewayProcess, raw: bytes, needle: str) -> None:
    resp = _post(gw, "/v1/rerank", raw=raw)
    assert resp.status_code == 400, resp.text
    assert resp.headers["x-error-code"] == "INVALID_REQUEST" and needle in resp.json()["detail"]
    assert resp.json()["error"]["code"] == "INVALID_REQUEST"


def test_an_oversized_body_is_413(gw: GatewayProcess) -> None:
    raw = b'{"model": "rr/rerank-fake", "query": "q", "documents": ["' + b"a" * (20 * 1024 * 1024 + 10) + b'"]}'
    resp = _post(gw, "/v1/rerank", raw=raw)
    assert resp.status_code == 413 and resp.headers["x-error-code"] == "PAYLOAD_TOO_LARGE"
