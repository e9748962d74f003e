"""The Gemini adapter: URLs, auth headers, probe, and error parsing."""

from __future__ import annotations

import json

import pytest

from app.gateway.snapshot import ProviderEntry
from app.providers.base import ProviderAdapter, UpstreamRequest
from app.providers.gemini import GeminiAdapter
from tests.entries import provider_entry

BASE = "https://generativelanguage.googleapis.com/v1beta"


def provider(api_key: str | None = "AIza-test", base_url: str = BASE + "/") -> ProviderEntry:
    return provider_entry(
        name="gem", kind="gemini", base_url=base_url, api_key=api_key, timeout_s=30, headers={"x-extra": "1"}
    )


ADAPTER: ProviderAdapter = GeminiAdapter()


def test_identity_and_capabilities() -> None:
    assert (GeminiAdapter.kind, GeminiAdapter.dialect) == ("gemini", "gemini")
    caps = GeminiAdapter.capabilities
    assert (caps.prefill, caps.embeddings, caps.json_schema, caps.stream, caps.tools) == (False, True, True, True, True)


def test_generate_non_stream() -> None:
    req = ADAPTER.generate(provider(), "gemini-2.5-flash", b"{}", stream=False)
    assert req == UpstreamRequest(
        "POST",
        BASE + "/models/gemini-2.5-flash:generateContent",
        {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "x-extra": "1",
            "x-goog-api-key": "AIza-test",
        },
        b"{}",
    )
    assert "authorization" not in req.headers


def test_generate_stream_asks_for_sse() -> None:
    req = ADAPTER.generate(provider(), "gemini-2.5-flash", b"{}", stream=True)
    assert req.url == BASE + "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"


@pytest.mark.parametrize(
    ("model", "url"),
    [
        ("models/gemini-2.5-pro", BASE + "/models/gemini-2.5-pro:generateContent"),
        ("tunedModels/my-model-1", BASE + "/tunedModels/my-model-1:generateContent"),
        ("gemini 2", BASE + "/models/gemini%202:generateContent"),
    ],
)
def test_model_resource_names(model: str, url: str) -> None:
    assert ADAPTER.generate(provider(), model, b"", stream=False).url == url


def test_embed_and_probe() -> None:
    adapter = GeminiAdapter()
    req = adapter.embed(provider(), "text-embedding-004", b'{"requests": []}')
    assert (req.method, req.url) == ("POST", BASE + "/models/text-embedding-004:batchEmbedContents")
    assert req.headers["x-goog-api-key"] == "AIza-test"
    probe = adapter.probe(provider())
    assert probe == UpstreamRequest("GET", BASE + "/models", {"x-extra": "1", "x-goog-api-key": "AIza-test"})


def test_no_key_sends_no_auth_header() -> None:
    assert ADAPTER.auth_headers(provider(api_key=None)) == {}
    assert "x-goog-api-key" not in ADAPTER.generate(provider(api_key=None), "m", b"", stream=False).headers


def gemini_error(code: int, status: str, message: str, details: list[dict[str, object]] | None = None) -> bytes:
    error: dict[str, object] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return json.dumps({"error": error}).encode()


def test_resource_exhausted_reads_as_rate_limit() -> None:
    body = gemini_error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan.")
    parsed = ADAPTER.parse_error(429, body)
    assert (
        parsed.message == "rate limited (RESOURCE_EXHAUSTED): You exceeded your current quota, please check your plan."
    )
    assert (parsed.code, parsed.type) == ("429", "RESOURCE_EXHAUSTED")
    assert not parsed.content_policy


def test_context_length_is_flagged() -> None:
    body = gemini_error(
        400,
        "INVALID_ARGUMENT",
        "The input token count (1048577) exceeds the maximum number of tokens allowed (1048576).",
    )
    parsed = ADAPTER.parse_error(400, body)
    assert parsed.context_length
    assert parsed.code == "context_length_exceeded"


def test_invalid_key_is_told_apart_from_a_bad_request() -> None:
    details = [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}
    ]
    parsed = ADAPTER.parse_error(
        400, gemini_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", details)
    )
    assert parsed.code == "API_KEY_INVALID"
    assert parsed.message == "API key not valid. Please pass a valid API key."


@pytest.mark.parametrize(
    ("status", "body", "message", "kind"),
    [
        (
            503,
            gemini_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
            "The model is overloaded. Please try again later.",
            "UNAVAILABLE",
        ),
        (400, b'[{"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}]', "bad", "INVALID_ARGUMENT"),
        (502, b"<html><title>502 Bad Gateway</title></html>", "502 Bad Gateway", None),
        (500, b"", "upstream returned HTTP 500", None),
    ],
)
def test_other_errors(status: int, body: bytes, message: str, kind: str | None) -> None:
    parsed = ADAPTER.parse_error(status, body)
    assert (parsed.message, parsed.type, parsed.context_length) == (message, kind, False)


def test_safety_refusal_reads_as_content_policy() -> None:
    body = gemini_error(400, "INVALID_ARGUMENT", "The request was blocked by safety filters.")
    assert ADAPTER.parse_error(400, body).content_policy
