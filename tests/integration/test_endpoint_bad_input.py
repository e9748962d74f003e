"""Bad bodies on the messages, responses, completions, embeddings, images and vendor endpoints.

Malformed JSON, a non-object body, missing and mistyped fields, and oversized bodies each get a
problem+json 400/413 with `X-Error-Code`, in the caller's dialect (Anthropic's error shape on
`/v1/messages`), through every prefix, and the official SDKs raise the right exception for them.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.usefixtures("fakes_reset")

LIMIT = 20 * 1024 * 1024  # POLYROUTE_MAX_BODY_BYTES default

# (path, raw body, the text the detail must contain)
CASES: list[tuple[str, bytes, str]] = [
    ("/v1/messages", b'{"model": "claude/claude-fake", "max_tokens": 5, "messages": [', "not valid JSON"),
    ("/v1/messages", b"[1, 2]", "JSON object"),
    ("/v1/messages", b"", "empty"),
    ("/v1/messages", b'{"model": "claude/claude-fake", "messages": [{"role": "user", "content": "x"}]}', "max_tokens"),
    ("/v1/messages", b'{"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}', "model"),
    ("/v1/messages", b'{"model": "claude/claude-fake", "max_tokens": "five", "messages": []}', "max_tokens"),
    ("/v1/messages", b'{"model": "claude/claude-fake", "max_tokens": 5, "messages": "hi"}', "messages"),
    ("/api/v1/messages", b'{"model": 7, "max_tokens": 5, "messages": []}', "model"),
    ("/v1/responses", b'{"model": "gem/gemini-fake", "input": ', "not valid JSON"),
    ("/v1/responses", b'"just a string"', "JSON object"),
    ("/v1/responses", b'{"input": "x"}', "model"),
    ("/v1/responses", b'{"model": "gem/gemini-fake", "input": "x", "max_output_tokens": "ten"}', "max_output_tokens"),
    ("/v1/responses", b'{"model": "gem/gemini-fake", "input": "x", "tools": "web"}', "tools"),
    ("/openai/v1/responses", b'{"model": "gem/gemini-fake", "input": "x", "stream": "yes"}', "stream"),
    ("/v1/completions", b'{"model": "backup/gpt-fake", "prompt": "a', "not valid JSON"),
    ("/v1/completions", b"[]", "JSON object"),
    ("/v1/completions", b'{"model": "backup/gpt-fake"}', "prompt"),
    ("/v1/completions", b'{"prompt": "x"}', "model"),
    ("/v1/completions", b'{"model": "backup/gpt-fake", "prompt": 5}', "prompt"),
    ("/v1/completions", b'{"model": "backup/gpt-fake", "prompt": []}', "prompt"),
    ("/v1/completions", b'{"model": "backup/gpt-fake", "prompt": [1, "a"]}', "prompt"),
    ("/v1/completions", b'{"model": "backup/gpt-fake", "prompt": [[1], []]}', "prompt"),
    ("/v1/completions", b'{"model": "backup/gpt-fake", "prompt": "x", "max_tokens": "ten"}', "max_tokens"),
    ("/v1/completions", b'{"model": "backup/gpt-fake", "prompt": "x", "logprobs": 9}', "logprobs"),
    ("/openai/v1/completions", b'{"model": "backup/gpt-fake", "prompt": "x", "echo": "yes"}', "echo"),
    ("/api/v1/completions", b'{"model": "backup/gpt-fake", "prompt": "x", "stop": 3}', "stop"),
    ("/v1/moderations", b'{"model": "fakeai/omni-moderation-fake", "input": "a', "not valid JSON"),
    ("/v1/moderations", b'{"input": "x"}', "model"),
    ("/v1/moderations", b'{"model": "fakeai/omni-moderation-fake"}', "input"),
    ("/v1/moderations", b'{"model": "fakeai/omni-moderation-fake", "input": 5}', "input"),
    ("/v1/moderations", b'{"model": "fakeai/omni-moderation-fake", "input": []}', "input"),
    ("/v1/embeddings", b'{"model": "fakeai/text-embedding-fake", "input": ["a"', "not valid JSON"),
    ("/v1/embeddings", b'{"model": "fakeai/text-embedding-fake"}', "input"),
    ("/v1/embeddings", b'{"input": "x"}', "model"),
    ("/api/v1/embeddings", b'{"model": ["fakeai/text-embedding-fake"], "input": "x"}', "model"),
    ("/v1/images/generations", b"{'model': 'fakeai/gpt-image-fake'}", "not valid JSON"),
    ("/v1/images/generations", b'{"model": "fakeai/gpt-image-fake"}', "prompt"),
    ("/v1/images/generations", b'{"model": "fakeai/gpt-image-fake", "prompt": 5}', "prompt"),
    ("/v1/images/generations", b'{"model": "fakeai/gpt-image-fake", "prompt": "x", "n": "two"}', "n"),
]


def _post(gw: GatewayProcess, path: str, raw: bytes) -> httpx.Response:
    headers = {"Authorization": f"Bearer {gw.api_key}", "content-type": "application/json"}
    with gw.http() as http:
        return http.post(path, content=raw, headers=headers)


def _problem(resp: httpx.Response, status: int, code: str, *, anthropic_shape: bool) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.headers["x-error-code"] == code
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and body["code"] == code and body["detail"]
    assert body["type"].startswith("/errors/")
    if anthropic_shape:  # the `error` member the anthropic SDK reads: {"type", "message", "details"}
        assert body["error"]["type"] in ("invalid_request_error", "request_too_large")
        assert body["error"]["message"] == body["detail"]
        assert body["error"]["details"] == {"error_code": code} and "code" not in body["error"]
    else:
        assert body["error"]["code"] == code and body["error"]["message"] == body["detail"]
    return body


@pytest.mark.parametrize(("path", "raw", "needle"), CASES)
def test_bad_bodies_are_400_in_the_callers_dialect(gateway: GatewayProcess, path: str, raw: bytes, needle: str) -> None:
    body = _problem(_post(gateway, path, raw), 400, "INVALID_REQUEST", anthropic_shape=path.endswith("/messages"))
    assert needle in body["detail"]


@pytest.mark.parametrize(
    "path",
    ["/v1/messages", "/v1/responses", "/v1/completions", "/v1/embeddings", "/v1/images/generations", "/v1/moderations"],
)
def test_a_declared_oversized_body_is_413_before_it_is_read(gateway: GatewayProcess, path: str) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n".encode()
            + f"Authorization: Bearer {gateway.api_key}\r\nContent-Length: {LIMIT * 10}\r\n\r\n".encode()
            + b'{"model": '
        )
        start = time.monotonic()
        answer = sock.recv(4096)
        assert time.monotonic() - start < 5
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"PAYLOAD_TOO_LARGE" in answer


def test_an_oversized_messages_body_is_an_anthropic_413(gateway: GatewayProcess, fake_anthropic: FakeAnthropic) -> None:
    raw = b'{"model": "claude/claude-fake", "max_tokens": 5, "pad": "' + b"a" * (LIMIT + 10) + b'"}'
    _problem(_post(gateway, "/v1/messages", raw), 413, "PAYLOAD_TOO_LARGE", anthropic_shape=True)
    assert not fake_anthropic.requests_for("/v1/messages")


def test_an_oversized_vendor_body_is_413_and_never_forwarded(gateway: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    raw = b"\x00" * (LIMIT + 10)
    headers = {"Authorization": f"Bearer {gateway.api_key}", "content-type": "application/octet-stream"}
    with gateway.http() as http:
        resp = http.post("/vendors/fakeai/v1/files", content=raw, headers=headers)
    assert resp.status_code == 413 and resp.headers["x-error-code"] == "PAYLOAD_TOO_LARGE"
    assert not fake_openai.requests_for("/v1/files")


def test_the_sdks_raise_their_own_bad_request_errors(gateway: GatewayProcess) -> None:
    with pytest.raises(anthropic.BadRequestError) as err:
        gateway.anthropic().messages.create(
            model="claude/claude-fake",
            max_tokens=10,
            stop_sequences="STOP",  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "x"}],
        )
    assert err.value.type == "invalid_request_error" and "stop_sequences" in err.value.api_message
    assert err.value.error_code == "INVALID_REQUEST"
    client = gateway.openai()
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(model="gem/gemini-fake", input="x", temperature="hot")  # type: ignore[arg-type]
    assert bad.value.code == "INVALID_REQUEST" and "temperature" in bad.value.message
    with pytest.raises(openai.BadRequestError) as bad:
        client.embeddings.create(model="fakeai/text-embedding-fake", input=[{"a": 1}])  # type: ignore[list-item]
    assert "input" in bad.value.message
    with pytest.raises(openai.BadRequestError) as bad:
        client.images.generate(model="fakeai/gpt-image-fake", prompt="x", n="2")  # type: ignore[arg-type]
    assert "'n'" in bad.value.message
