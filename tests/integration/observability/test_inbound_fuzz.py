"""Every inference endpoint of a real server, fuzzed: whatever the body, never a 500 and never an error
without its problem body (`error` member, X-Error-Code).

Bodies come from tests/unit/observability/inbound_strategies.py (near-valid objects, any JSON, any
bytes); valid ones reach the fake upstream and are answered. Bounded: a few dozen requests per
endpoint. The parser-level twin with many more examples is tests/unit/observability/test_parsers_fuzz.py.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from tests.db_backends import gateway_on
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY, GatewayProcess
from tests.integration.observability.conftest import observed_config
from tests.unit.observability.inbound_strategies import FIELDS, inbound_body, multipart_body

PATHS = {
    "chat.completions": "/v1/chat/completions",
    "completions": "/v1/completions",
    "messages": "/v1/messages",
    "responses": "/v1/responses",
    "embeddings": "/v1/embeddings",
    "rerank": "/v1/rerank",
    "moderations": "/v1/moderations",
    "images.generations": "/v1/images/generations",
    "audio.speech": "/v1/audio/speech",
}
UPLOADS = ["/v1/audio/transcriptions", "/v1/audio/translations"]
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def gw(
    backend: str, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> Iterator[GatewayProcess]:
    config = observed_config(fake_openai, fake_backup)
    # rerank is served by OpenAI-compatible servers only
    compat = {"name": "compat", "kind": "openai-compatible", "base_url": fake_backup.base_url + "/v1"}
    config["providers"].append({**compat, "api_key": "sk-compat", "models": [{"id": "gpt-fake"}]})
    with gateway_on(
        backend,
        tmp_path_factory.mktemp("fuzz"),
        config,
        env={"POLYROUTE_PROBES_ENABLED": "false"},
    ) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def client(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.base_url, timeout=30, headers={"authorization": f"Bearer {API_KEY}"}) as c:
        yield c


def _check(resp: httpx.Response) -> None:
    """Not a 500; an error answer is a problem body an SDK can parse."""
    assert resp.status_code != 500, resp.text
    if resp.status_code >= 400:
        assert resp.headers["content-type"].startswith("application/problem+json"), resp.text
        assert resp.headers["x-error-code"]
        body = resp.json()
        error = body["error"]
        assert error["message"] and (error.get("code") or error.get("type")), body


def _post(client: httpx.Client, path: str, raw: bytes, content_type: str) -> int:
    headers = {"content-type": content_type} if content_type else {}
    with client.stream("POST", path, content=raw, headers=headers) as resp:
        resp.read()  # a valid streamed request is read to its end
    _check(resp)
    return resp.status_code


def test_every_endpoint_is_fuzzed() -> None:
    assert set(PATHS) == set(FIELDS)


@pytest.mark.parametrize("endpoint", sorted(PATHS))
def test_json_endpoint_never_answers_500(client: httpx.Client, endpoint: str) -> None:
    statuses: list[int] = []

    @FUZZ
    @given(raw=inbound_body(endpoint))
    def check(raw: bytes) -> None:
        statuses.append(_post(client, PATHS[endpoint], raw, "application/json"))

    check()
    # Proof the fuzzing went past the parser: some bodies were answered by the upstream (the plain
    # OpenAI fake has no speech route, so a speech body that got that far is its 404, as a 502).
    reached = 502 if endpoint == "audio.speech" else 200
    assert reached in statuses, f"no fuzzed body reached the upstream: {sorted(statuses)}"


@pytest.mark.parametrize("path", UPLOADS)
def test_upload_endpoint_never_answers_500(client: httpx.Client, path: str) -> None:
    @FUZZ
    @given(upload=multipart_body())
    def check(upload: tuple[bytes, str]) -> None:
        _post(client, path, *upload)

    check()


@pytest.mark.parametrize("path", [*PATHS.values(), *UPLOADS])
def test_http_level_oddities_are_4xx(client: httpx.Client, gw: GatewayProcess, path: str) -> None:
    """No body, a wrong content type, a lying content-length, a wrong method, no key."""
    _post(client, path, b"", "")
    _post(client, path, b"<xml/>", "application/xml")
    _check(client.get(path))
    _check(httpx.post(gw.base_url + path, content=b"{}", timeout=10))
    # A content-length past the limit, body never sent (httpx will not lie): 413 before the body is read.
    head = _raw_exchange(gw.port, path, b"content-length: 900000000\r\n", b"{}")
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert b"application/problem+json" in head.lower() and b"x-error-code: payload_too_large" in head.lower()
    assert gw.alive()


def _raw_exchange(port: int, path: str, extra_headers: bytes, body: bytes) -> bytes:
    """The status line and headers of the answer to a hand-written request."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        request = b"POST %s HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer %s\r\n%s\r\n%s" % (
            path.encode(),
            API_KEY.encode(),
            extra_headers,
            body,
        )
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.partition(b"\r\n\r\n")[0]
