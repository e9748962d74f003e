"""Every error a chat caller can meet: problem+json, X-Error-Code, the right SDK exception."""

from __future__ import annotations

import json
import socket
import time

import httpx
import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.usefixtures("fakes_reset")


def _post(
    gw: GatewayProcess,
    body: object,
    *,
    key: str | None = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    path: str = "/v1/chat/completions",
) -> httpx.Response:
    h = {"Authorization": f"Bearer {key or gw.api_key}", **(headers or {})}
    with gw.http() as http:
        if raw is not None:
            return http.post(path, content=raw, headers={**h, "content-type": "application/json"})
        return http.post(path, json=body, headers=h)


def _assert_problem(resp: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.headers["x-error-code"] == code
    body = resp.json()
    assert body["status"] == status and body["code"] == code
    assert body["type"].startswith("/errors/") and body["title"] and body["detail"]
    assert body["error"]["code"] == code and body["error"]["message"] == body["detail"]
    assert body["trace_id"] == resp.headers["traceparent"].split("-")[1]
    return body


MESSAGES = [{"role": "user", "content": "hi"}]


def test_missing_and_wrong_key_are_401(gateway: GatewayProcess) -> None:
    with gateway.http() as http:
        resp = http.post("/v1/chat/completions", json={"model": "fakeai/gpt-fake", "messages": MESSAGES})
    _assert_problem(resp, 401, "AUTHENTICATION_ERROR")
    resp = _post(gateway, {"model": "fakeai/gpt-fake", "messages": MESSAGES}, key="sk-poly-wrong-000000000000")
    _assert_problem(resp, 401, "AUTHENTICATION_ERROR")
    with pytest.raises(openai.AuthenticationError) as err:
        gateway.openai(key="sk-poly-nope-1234567890").chat.completions.create(
            model="fakeai/gpt-fake", messages=MESSAGES
        )
    assert err.value.code == "AUTHENTICATION_ERROR"
    assert "Invalid API key" in err.value.message


def test_unknown_model_is_invalid_model(gateway: GatewayProcess) -> None:
    body = _assert_problem(_post(gateway, {"model": "foo/bar", "messages": MESSAGES}), 400, "INVALID_MODEL")
    assert body["detail"] == "Unknown model 'foo/bar'"
    with pytest.raises(openai.BadRequestError) as err:
        gateway.openai().chat.completions.create(model="foo/bar", messages=MESSAGES)
    assert err.value.code == "INVALID_MODEL" and err.value.param == "model"


def test_model_outside_plan_is_forbidden(gateway: GatewayProcess) -> None:
    free = "sk-poly-free-0123456789abcdefghij"
    _assert_problem(
        _post(gateway, {"model": "fakeai/fake-tool", "messages": MESSAGES}, key=free), 403, "MODEL_NOT_ALLOWED"
    )
    assert _post(gateway, {"model": "fakeai/gpt-fake", "messages": MESSAGES}, key=free).status_code == 200
    with pytest.raises(openai.PermissionDeniedError):
        gateway.openai(key=free).chat.completions.create(model="demo/echo", messages=MESSAGES)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"", "empty"),
        (b'{"model": "x", "messages": [{"role": "user", "content": "\xff\xfe"}]}', "UTF-8"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "'model'"),
        (b'{"model": "fakeai/gpt-fake"}', "'messages'"),
        (b'{"model": 42, "messages": []}', "'model'"),
        (b'{"model": "fakeai/gpt-fake", "messages": "hello"}', "'messages'"),
        (b'{"model": "fakeai/gpt-fake", "messages": [{"content": "x"}]}', "'messages[0].role'"),
        (b'{"model": "fakeai/gpt-fake", "messages": [{"role": "robot", "content": "x"}]}', "messages[0].role"),
        (b'{"model": "fakeai/gpt-fake", "messages": [{"role": "user", "content": 5}]}', "messages[0].content"),
        (b'{"model": "fakeai/gpt-fake", "messages": [], "stream": "yes"}', "'messages'"),
        (b'{"model": "fakeai/gpt-fake", "messages": MESSAGES, "stream": "yes"}', "not valid JSON"),
        (b'{"model": "fakeai/gpt-fake", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', "'stream'"),
        (
            b'{"model": "fakeai/gpt-fake", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}',
            "'max_tokens'",
        ),
    ],
)
def test_bad_input_is_400_naming_the_field(gateway: GatewayProcess, raw: bytes, needle: str) -> None:
    body = _assert_problem(_post(gateway, None, raw=raw), 400, "INVALID_REQUEST")
    assert needle in str(body["detail"])


def test_oversized_body_is_413_without_reading_it_all(gateway: GatewayProcess) -> None:
    limit = 20 * 1024 * 1024
    resp = _post(gateway, None, raw=b'{"model": "x", "messages": [], "pad": "' + b"a" * (limit + 10) + b'"}')
    _assert_problem(resp, 413, "PAYLOAD_TOO_LARGE")
    # Declared too large: refused from the header alone, before the body is sent.
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {gateway.api_key}\r\nContent-Length: {limit * 10}\r\n\r\n".encode()
            + b'{"model": '
        )
        start = time.monotonic()
        answer = sock.recv(4096)
        assert time.monotonic() - start < 5
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"PAYLOAD_TOO_LARGE" in answer
    assert _post(gateway, {"model": "fakeai/gpt-fake", "messages": MESSAGES}).status_code == 200


def test_wrong_method_and_unknown_path(gateway: GatewayProcess) -> None:
    with gateway.http() as http:
        resp = http.get("/v1/chat/completions", headers={"Authorization": f"Bearer {gateway.api_key}"})
        _assert_problem(resp, 405, "METHOD_NOT_ALLOWED")
        resp = http.get("/v1/nothing-here", headers={"Authorization": f"Bearer {gateway.api_key}"})
        assert resp.status_code == 404 and resp.headers["x-error-code"] == "NOT_FOUND"
        assert resp.json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("model", ["fakeai/fake-500", "fakeai/fake-503", "fakeai/fake-html"])
def test_upstream_5xx_is_502_provider_error(gateway: GatewayProcess, model: str) -> None:
    body = _assert_problem(_post(gateway, {"model": model, "messages": MESSAGES}), 502, "PROVIDER_ERROR")
    attempts = body["attempts"]
    assert isinstance(attempts, list) and attempts and attempts[0]["provider"] == "fakeai"
    assert all(a["outcome"] == "error" for a in attempts)
    with pytest.raises(openai.InternalServerError):
        gateway.openai().chat.completions.create(model=model, messages=MESSAGES)


def test_html_error_page_is_summarised_not_dumped(gateway: GatewayProcess) -> None:
    body = _assert_problem(_post(gateway, {"model": "fakeai/fake-html", "messages": MESSAGES}), 502, "PROVIDER_ERROR")
    assert "502 Bad Gateway" in str(body["detail"]) and "<html>" not in str(body["detail"])


def test_connect_error_is_502(gateway: GatewayProcess) -> None:
    body = _assert_problem(_post(gateway, {"model": "dead/gpt-fake", "messages": MESSAGES}), 502, "PROVIDER_ERROR")
    assert "connect" in str(body["detail"])


def test_200_with_error_body_is_a_provider_error(gateway: GatewayProcess) -> None:
    body = _assert_problem(
        _post(gateway, {"model": "fakeai/fake-200-error", "messages": MESSAGES}), 502, "PROVIDER_ERROR"
    )
    assert "upstream overloaded" in str(body["detail"])


def test_no_first_byte_in_time_is_504(gateway: GatewayProcess) -> None:
    start = time.monotonic()
    _assert_problem(_post(gateway, {"model": "fakeai/fake-stall", "messages": MESSAGES}), 504, "PROVIDER_TIMEOUT")
    assert time.monotonic() - start < 6  # provider timeout_s is 3, and a timeout is not retried
    resp = _post(gateway, {"model": "fakeai/fake-stall-first", "messages": MESSAGES, "stream": True})
    _assert_problem(resp, 504, "PROVIDER_TIMEOUT")


def test_upstream_caller_error_passes_through_with_its_message(gateway: GatewayProcess) -> None:
    body = _assert_problem(_post(gateway, {"model": "fakeai/fake-400", "messages": MESSAGES}), 400, "INVALID_REQUEST")
    assert body["detail"] == "fake error 400 for fake-400"
    body = _assert_problem(
        _post(gateway, {"model": "fakeai/fake-content-policy", "messages": MESSAGES}), 400, "INVALID_REQUEST"
    )
    assert "safety system" in str(body["detail"])


def test_upstream_429_is_429_with_retry_after(gateway: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    resp = _post(gateway, {"model": "fakeai/fake-429", "messages": MESSAGES})
    _assert_problem(resp, 429, "RATE_LIMITED")
    assert resp.headers["retry-after"] == "1"
    # Retried once on the same target after honouring Retry-After.
    assert len(fake_openai.requests_for("/chat/completions")) == 2
    with pytest.raises(openai.RateLimitError):
        gateway.openai().chat.completions.create(model="fakeai/fake-429", messages=MESSAGES)


@pytest.mark.parametrize("model", ["fakeai/fake-cut", "fakeai/fake-stall-mid", "fakeai/fake-no-done"])
def test_stream_broken_after_start_ends_with_error_event(gateway: GatewayProcess, model: str) -> None:
    with (
        gateway.http() as http,
        http.stream(
            "POST",
            "/v1/chat/completions",
            json={"model": model, "messages": MESSAGES, "stream": True},
            headers={"Authorization": f"Bearer {gateway.api_key}"},
        ) as resp,
    ):
        assert resp.status_code == 200
        frames = [line for line in resp.iter_lines() if line.startswith("data: ")]
    assert frames[-1] != "data: [DONE]"
    error = json.loads(frames[-1][6:])["error"]
    assert error["code"] in {"PROVIDER_ERROR", "PROVIDER_TIMEOUT"}
    assert "incomplete" in error["message"] or "without finishing" in error["message"] or "broke" in error["message"]
    with pytest.raises(openai.APIError):
        for _ in gateway.openai().chat.completions.create(model=model, messages=MESSAGES, stream=True):
            pass


def test_malformed_sse_frame_is_skipped(gateway: GatewayProcess) -> None:
    chunks = list(
        gateway.openai().chat.completions.create(model="fakeai/fake-malformed-sse", messages=MESSAGES, stream=True)
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from fake-malformed-sse. You said: hi"


def test_traceparent_is_continued_and_propagated(gateway: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    resp = _post(gateway, {"model": "fakeai/gpt-fake", "messages": MESSAGES}, headers={"traceparent": incoming})
    assert resp.status_code == 200
    ours = resp.headers["traceparent"].split("-")
    assert ours[1] == "4bf92f3577b34da6a3ce929d0e0e4736" and ours[2] != "00f067aa0ba902b7"
    upstream = fake_openai.requests_for("/chat/completions")[-1].headers["traceparent"].split("-")
    assert upstream[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert upstream[2] not in {"00f067aa0ba902b7", ours[2]}
    resp = _post(gateway, {"model": "fakeai/gpt-fake", "messages": MESSAGES}, headers={"x-request-id": "my-req-1"})
    assert resp.headers["x-request-id"] == "my-req-1"


def test_server_keeps_serving_after_bad_input(gateway: GatewayProcess) -> None:
    for raw in (b"\x00\x01", b"{", b'{"model": null}', b"null"):
        assert _post(gateway, None, raw=raw).status_code == 400
    assert gateway.alive()
    assert _post(gateway, {"model": "fakeai/gpt-fake", "messages": MESSAGES}).status_code == 200


def test_reused_client_request_ids_are_each_accounted(gateway: GatewayProcess) -> None:
    traces = set()
    for _ in range(3):
        resp = _post(gateway, {"model": "fakeai/gpt-fake", "messages": MESSAGES}, headers={"x-request-id": "dup-1"})
        assert resp.status_code == 200 and resp.headers["x-request-id"] == "dup-1"
        traces.add(resp.headers["traceparent"].split("-")[1])
    deadline = time.monotonic() + 10
    rows: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        with gateway.admin() as http:
            rows = [
                r for r in http.get("/v1/requests", params={"limit": 200}).json()["data"] if r["trace_id"] in traces
            ]
        if len(rows) == 3:
            break
        time.sleep(0.2)
    assert len(rows) == 3 and len({r["id"] for r in rows}) == 3  # one row each, although the caller reused its id
