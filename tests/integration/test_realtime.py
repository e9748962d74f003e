"""The Realtime API (WebSocket) through the gateway, driven by the official openai SDK and a raw client:
relay both ways, our key swapped for the provider's, model names mapped, fallback at connect, usage
and cost per response (audio priced as audio), refusals as HTTP answers to the upgrade, closes both ways."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.db_backends import gateway_on
from tests.fakes.openai_realtime import FakeRealtime
from tests.fakes.server import free_port
from tests.gateway_process import API_KEY, GatewayProcess
from tests.integration.usage.harness import wait_until

LIMITED_KEY = "sk-poly-realtime-limited-0123456789ab"
CLAUDE_ONLY_KEY = "sk-poly-realtime-claude-0123456789ab"
BUDGET_KEY = "sk-poly-realtime-budget-0123456789ab"
PRICES = {
    "input_cost_per_mtok": 4.0,
    "output_cost_per_mtok": 16.0,
    "cached_input_cost_per_mtok": 0.4,
    "audio_input_cost_per_mtok": 32.0,
    "audio_output_cost_per_mtok": 64.0,
}


@pytest.fixture(scope="module")
def silent() -> Iterator[int]:
    """A port that accepts connections and never answers (an upstream that hangs on the upgrade)."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeRealtime]:
    with FakeRealtime() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(fake: FakeRealtime) -> None:
    fake.reset()


def _config(fake: FakeRealtime, silent: int = 9) -> dict[str, Any]:
    def provider(name: str, **extra: Any) -> dict[str, Any]:
        spec = {"name": name, "kind": "openai", "base_url": fake.base_url + "/v1", "api_key": fake.api_key}
        return {**spec, "timeout_s": 3, "probe_interval_s": 0, "models": [{"id": "gpt-rt", **PRICES}], **extra}

    azure = {"kind": "azure", "base_url": fake.base_url, "models": [{"id": "rt-deploy"}]}
    return {
        "providers": [
            provider("rt"),
            provider("rt-first"),
            provider("rt-dead", base_url=f"http://127.0.0.1:{free_port()}/v1"),
            provider("rt-silent", base_url=f"http://127.0.0.1:{silent}/v1", timeout_s=1),
            {**provider("az"), **azure, "api_version": "2025-04-01-preview"},
            {**provider("az1"), **azure},
            {"name": "ant", "kind": "anthropic", "base_url": fake.base_url, "api_key": "x", "models": [{"id": "c"}]},
            {"name": "demo", "kind": "demo", "models": [{"id": "echo"}]},
        ],
        "routes": [
            {
                "name": "voice",
                "targets": [
                    {"provider": "rt-first", "model": "gpt-rt", "priority": 0},
                    {"provider": "rt", "model": "gpt-rt", "priority": 1},
                ],
            },
            {"name": "voice-down", "targets": [{"provider": "rt-dead", "model": "gpt-rt"}]},
            {"name": "voice-hangs", "targets": [{"provider": "rt-silent", "model": "gpt-rt"}]},
        ],
        "plans": [{"name": "one-a-day", "daily_requests": 1}, {"name": "claude", "models": ["ant/*"]}],
        "api_keys": [
            {"name": "test", "key": API_KEY},
            {"name": "limited", "key": LIMITED_KEY, "plan": "one-a-day"},
            {"name": "claude", "key": CLAUDE_ONLY_KEY, "plan": "claude"},
            {"name": "budgeted", "key": BUDGET_KEY, "limits": {"monthly_budget_usd": 0.00004}},
        ],
    }


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, fake: FakeRealtime, silent: int) -> Iterator[GatewayProcess]:
    env = {"POLYROUTE_MAX_BODY_BYTES": str(256 * 1024)}
    with gateway_on("sqlite", tmp_path_factory.mktemp("realtime"), _config(fake, silent), env=env) as gateway:
        yield gateway


def _ws_url(gw: GatewayProcess, query: str, path: str = "/v1/realtime") -> str:
    return gw.base_url.replace("http://", "ws://") + f"{path}?{query}"


def _raw(
    gw: GatewayProcess, query: str, key: str | None = API_KEY, headers: dict[str, str] | None = None, **kwargs: Any
) -> ClientConnection:
    sent = {"Authorization": f"Bearer {key}"} if key else {}
    return connect(_ws_url(gw, query), additional_headers={**sent, **(headers or {})}, open_timeout=10, **kwargs)


def _events_until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while True:
        event = json.loads(ws.recv(timeout=10))
        seen.append(event)
        if event["type"] == kind:
            return seen


def _session_rows(gw: GatewayProcess, session: str, count: int) -> list[dict[str, Any]]:
    """The request log's rows of one session (its request id, which a caller may choose), with `detail`."""
    details: dict[str, dict[str, Any]] = {}

    def arrived() -> bool:
        with gw.admin() as admin:
            listed = admin.get("/v1/requests", params={"limit": 200}).json()["data"]
            for row in listed:
                if row["endpoint"] == "realtime" and row["id"] not in details:
                    details[row["id"]] = admin.get(f"/v1/requests/{row['id']}").json()
        return len(mine()) >= count

    def mine() -> list[dict[str, Any]]:
        return [d for d in details.values() if d["realtime"]["session"] == session]

    wait_until(arrived, timeout=10)
    return mine()


def _say(conn: Any, text: str) -> str:
    """A user turn and a response through the SDK's connection: the answer's text, once it is done."""
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    conn.conversation.item.create(item=item)
    conn.response.create()
    answer = ""
    for event in conn:
        if event.type == "response.output_text.delta":
            answer += event.delta
        if event.type == "response.done":
            assert event.response.usage is not None
            return answer
    raise AssertionError("the session ended before the response was done")


def _rid(name: str) -> dict[str, str]:
    return {"x-request-id": f"rt-{name}-{time.monotonic_ns()}"}


def test_a_conversation_through_the_openai_sdk_reaches_the_upstream_as_the_providers_caller(
    gw: GatewayProcess, fake: FakeRealtime
) -> None:
    client = openai.OpenAI(api_key=API_KEY, base_url=gw.v1, max_retries=0)
    with client.realtime.connect(model="rt/gpt-rt") as conn:
        created = conn.recv()
        assert created.type == "session.created"
        assert created.session.model == "gpt-rt"  # type: ignore[union-attr]
        conn.session.update(session={"type": "realtime", "model": "rt/gpt-rt", "instructions": "Be brief."})
        assert conn.recv().type == "session.updated"
        assert _say(conn, "hello over there") == "echo: hello over there"
    handshake = fake.requests_for("/v1/realtime")[-1]
    assert handshake.query == "model=gpt-rt"
    assert handshake.headers["Authorization"] == f"Bearer {fake.api_key}"
    assert API_KEY not in json.dumps(handshake.headers)
    update = next(e for e in fake.events if e["type"] == "session.update")
    # Our name for the model became the upstream's; the rest of the update is as the caller sent it.
    assert update["session"] == {"type": "realtime", "model": "gpt-rt", "instructions": "Be brief."}
    wait_until(lambda: fake.open_sessions == 0, timeout=5)


def test_each_response_is_a_usage_row_with_audio_tokens_at_audio_prices(gw: GatewayProcess, fake: FakeRealtime) -> None:
    fake.audio_out = 200
    fake.cached_input = 4
    rid = _rid("usage")
    with _raw(gw, "model=rt/gpt-rt", headers=rid) as ws:
        _events_until(ws, "session.created")
        ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\0" * 5000).decode()}))
        ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        ws.send(json.dumps({"type": "response.create"}))
        first = _events_until(ws, "response.done")[-1]["response"]["usage"]
        ws.send(json.dumps({"type": "response.create"}))
        _events_until(ws, "response.done")
    # 5 text + 100 audio tokens in (4 text cached), 1 word ("echo:") + 200 audio tokens out: the fake's sums.
    assert (first["input_tokens"], first["output_tokens"]) == (105, 201)
    rows = sorted(_session_rows(gw, rid["x-request-id"], 2), key=lambda r: r["realtime"]["response"])
    assert [r["realtime"]["response"] for r in rows] == [1, 2]
    row = rows[0]
    assert (row["status"], row["provider"], row["model"], row["requested_model"]) == (200, "rt", "gpt-rt", "rt/gpt-rt")
    assert (row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"]) == (105, 201, 4)
    expected = (1 * 4.0 + 100 * 32.0 + 4 * 0.4 + 1 * 16.0 + 200 * 64.0) / 1e6
    assert row["cost_usd"] == pytest.approx(expected)
    assert rows[1]["prompt_tokens"] == 105 and rows[1]["cost_usd"] == pytest.approx(expected)


def test_a_refused_upgrade_falls_back_to_the_next_target(gw: GatewayProcess, fake: FakeRealtime) -> None:
    fake.refuse.append(503)
    rid = _rid("fallback")
    with _raw(gw, "model=voice", headers=rid) as ws:
        assert _events_until(ws, "session.created")[-1]["session"]["model"] == "gpt-rt"
        assert ws.response is not None
        assert ws.response.headers["x-polyroute-provider"] == "rt"
    (row,) = _session_rows(gw, rid["x-request-id"], 1)
    attempts = row["attempts"]
    assert [(a["provider"], a["outcome"], a["status"]) for a in attempts] == [
        ("rt-first", "error", 503),
        ("rt", "ok", 101),
    ]
    assert row["realtime"]["responses"] == 0 and row["status"] == 200


def test_when_no_upstream_takes_the_session_the_upgrade_gets_a_problem(gw: GatewayProcess) -> None:
    with pytest.raises(InvalidStatus) as raised:
        _raw(gw, "model=voice-down")
    response = raised.value.response
    assert response.status_code == 502
    assert response.headers["x-error-code"] == "PROVIDER_ERROR"
    assert response.headers["content-type"] == "application/problem+json"
    body = json.loads(response.body or b"")
    assert body["error"]["code"] == "PROVIDER_ERROR" and "rt-dead" in body["error"]["message"]


def test_an_upstream_that_hangs_on_the_upgrade_is_a_504_after_its_timeout(gw: GatewayProcess) -> None:
    with pytest.raises(InvalidStatus) as raised:
        _raw(gw, "model=voice-hangs")
    response = raised.value.response
    assert (response.status_code, response.headers["x-error-code"]) == (504, "PROVIDER_TIMEOUT")
    assert "rt-silent did not accept within 1s" in json.loads(response.body or b"")["error"]["message"]


@pytest.mark.parametrize(
    ("query", "key", "status", "code"),
    [
        ("model=rt/gpt-rt", None, 401, "AUTHENTICATION_ERROR"),
        ("model=rt/gpt-rt", "sk-poly-not-a-real-key-000000000000", 401, "AUTHENTICATION_ERROR"),
        ("model=rt/gpt-rt", CLAUDE_ONLY_KEY, 403, "MODEL_NOT_ALLOWED"),
        ("model=nope/nothing", API_KEY, 400, "INVALID_MODEL"),
        ("", API_KEY, 400, "INVALID_REQUEST"),
        ("model=ant/c", API_KEY, 400, "INVALID_REQUEST"),
    ],
)
def test_refusals_before_the_session_are_http_problems_the_sdk_can_read(
    gw: GatewayProcess, fake: FakeRealtime, query: str, key: str | None, status: int, code: str
) -> None:
    with pytest.raises(InvalidStatus) as raised:
        _raw(gw, query, key=key)
    response = raised.value.response
    assert (response.status_code, response.headers["x-error-code"]) == (status, code)
    assert json.loads(response.body or b"")["error"]["code"] == code
    assert not fake.requests_for("/realtime")  # nothing reached the upstream


def test_the_openai_sdk_raises_on_a_refused_upgrade(gw: GatewayProcess) -> None:
    client = openai.OpenAI(api_key="sk-poly-wrong-0000000000000000000000", base_url=gw.v1, max_retries=0)
    with pytest.raises(InvalidStatus) as raised, client.realtime.connect(model="rt/gpt-rt") as conn:
        conn.recv()
    assert raised.value.response.status_code == 401


def test_a_session_counts_against_the_keys_requests(gw: GatewayProcess) -> None:
    for _ in range(2):  # a model no session can be held with is refused before anything is counted
        with pytest.raises(InvalidStatus) as refused:
            _raw(gw, "model=ant/c", key=LIMITED_KEY)
        assert refused.value.response.status_code == 400
    with _raw(gw, "model=rt/gpt-rt", key=LIMITED_KEY) as ws:
        _events_until(ws, "session.created")
    with pytest.raises(InvalidStatus) as raised:
        _raw(gw, "model=rt/gpt-rt", key=LIMITED_KEY)
    response = raised.value.response
    assert (response.status_code, response.headers["x-error-code"]) == (429, "DAILY_REQUEST_LIMIT_EXCEEDED")
    assert "retry-after" in response.headers


def test_a_browser_authenticates_with_the_key_subprotocol(gw: GatewayProcess, fake: FakeRealtime) -> None:
    protocols = ["realtime", f"openai-insecure-api-key.{API_KEY}"]
    with _raw(gw, "model=rt/gpt-rt", key=None, subprotocols=protocols) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "realtime"
        _events_until(ws, "session.created")
    handshake = fake.requests_for("/v1/realtime")[-1]
    assert API_KEY not in json.dumps(handshake.headers)


@pytest.mark.parametrize(
    ("provider", "path", "query"),
    [
        ("az", "/openai/realtime", "api-version=2025-04-01-preview&deployment=rt-deploy&intent=x"),
        ("az1", "/openai/v1/realtime", "model=rt-deploy&intent=x"),
    ],
)
def test_azure_upstreams_get_their_paths_and_api_key(
    gw: GatewayProcess, fake: FakeRealtime, provider: str, path: str, query: str
) -> None:
    with _raw(gw, f"model={provider}/rt-deploy&intent=x&key=leak") as ws:
        _events_until(ws, "session.created")
    handshake = fake.requests_for(path)[-1]
    assert (handshake.path, handshake.query) == (path, query)
    assert handshake.headers["api-key"] == fake.api_key and "Authorization" not in handshake.headers


def test_an_azure_client_connects_at_azures_path(gw: GatewayProcess, fake: FakeRealtime) -> None:
    client = openai.AzureOpenAI(
        api_key=API_KEY,
        azure_endpoint=gw.base_url,
        api_version="2025-04-01-preview",
        websocket_base_url=gw.base_url.replace("http://", "ws://") + "/openai",  # its default is wss://
        max_retries=0,
    )
    with client.realtime.connect(model="rt/gpt-rt") as conn:
        assert conn.recv().type == "session.created"
    assert fake.requests_for("/v1/realtime")[-1].query == "model=gpt-rt"


def test_an_upstream_close_reaches_the_caller_with_its_code(gw: GatewayProcess, fake: FakeRealtime) -> None:
    fake.close_after, fake.close_code = 1, 4000
    with _raw(gw, "model=rt/gpt-rt") as ws:
        ws.send(json.dumps({"type": "response.create"}))
        _events_until(ws, "response.done")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000


def test_a_caller_leaving_closes_the_upstream_session(gw: GatewayProcess, fake: FakeRealtime) -> None:
    with _raw(gw, "model=rt/gpt-rt") as ws:
        _events_until(ws, "session.created")
        assert fake.open_sessions == 1
    wait_until(lambda: fake.open_sessions == 0, timeout=5)
    assert fake.closed_by_client == [1000]


def test_frames_pass_untouched_malformed_ones_included(gw: GatewayProcess, fake: FakeRealtime) -> None:
    with _raw(gw, "model=rt/gpt-rt") as ws:
        _events_until(ws, "session.created")
        ws.send(b"\x00\x01binary")
        assert ws.recv(timeout=10) == b"\x00\x01binary"
        ws.send("{not json")
        assert _events_until(ws, "error")[-1]["error"]["code"] == "invalid_json"
        ws.send(json.dumps({"type": "session.update", "session": "not an object"}))
        assert _events_until(ws, "error")[-1]["error"]["code"] == "invalid_type"
        ws.send(json.dumps({"type": "response.create"}))  # the session is still up
        _events_until(ws, "response.done")
    assert {"type": "session.update", "session": "not an object"} in fake.events


def test_a_frame_over_the_body_limit_closes_the_session_as_too_big(gw: GatewayProcess, fake: FakeRealtime) -> None:
    with _raw(gw, "model=rt/gpt-rt") as ws:
        _events_until(ws, "session.created")
        ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "A" * 300_000}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    wait_until(lambda: fake.open_sessions == 0, timeout=5)


def test_plain_http_gets_426_with_a_problem(gw: GatewayProcess) -> None:
    for method in ("GET", "POST"):
        response = httpx.request(method, gw.v1 + "/realtime?model=rt/gpt-rt", headers={"Authorization": API_KEY})
        assert response.status_code == 426
        assert response.headers["x-error-code"] == "UPGRADE_REQUIRED"
        assert response.json()["error"]["code"] == "UPGRADE_REQUIRED"


def test_every_prefix_serves_it(gw: GatewayProcess) -> None:
    for path in ("/openai/v1/realtime", "/api/v1/realtime"):
        url = _ws_url(gw, "model=rt/gpt-rt", path)
        with connect(url, additional_headers={"Authorization": f"Bearer {API_KEY}"}, open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "session.created"


def test_the_demo_provider_holds_a_session_in_process(gw: GatewayProcess, fake: FakeRealtime) -> None:
    client = openai.OpenAI(api_key=API_KEY, base_url=gw.v1, max_retries=0)
    rid = _rid("demo")
    with client.realtime.connect(model="demo/echo", extra_headers=rid) as conn:
        assert conn.recv().type == "session.created"
        assert _say(conn, "hi there") == "Echo: hi there"
    assert not fake.requests_for("/realtime")
    (row,) = _session_rows(gw, rid["x-request-id"], 1)
    assert row["provider"] == "demo"
    assert (row["prompt_tokens"], row["completion_tokens"], row["status"]) == (2, 3, 200)


def test_granian_serves_sessions_and_refusals_alike(
    tmp_path_factory: pytest.TempPathFactory, fake: FakeRealtime
) -> None:
    tmp = tmp_path_factory.mktemp("realtime-granian")
    with gateway_on("sqlite", tmp, _config(fake), extra_args=["--server", "granian"]) as gw:
        with _raw(gw, "model=rt/gpt-rt") as ws:
            _events_until(ws, "session.created")
            ws.send(json.dumps({"type": "response.create"}))
            assert _events_until(ws, "response.done")[-1]["response"]["status"] == "completed"
        with pytest.raises(InvalidStatus) as raised:
            _raw(gw, "model=rt/gpt-rt", key=CLAUDE_ONLY_KEY)
        assert raised.value.response.status_code == 403
        assert json.loads(raised.value.response.body or b"")["error"]["code"] == "MODEL_NOT_ALLOWED"


def test_a_budget_spent_mid_session_ends_it_after_that_response(gw: GatewayProcess, fake: FakeRealtime) -> None:
    with _raw(gw, "model=rt/gpt-rt", key=BUDGET_KEY) as ws:  # admitted: nothing spent yet
        _events_until(ws, "session.created")
        ws.send(json.dumps({"type": "response.create"}))  # 5 tokens in, 1 out: $0.000036 of $0.00004
        _events_until(ws, "response.done")
        ws.send(json.dumps({"type": "response.create"}))  # this one passes the budget...
        _events_until(ws, "response.done")
        error = _events_until(ws, "error")[-1]["error"]  # ...and the session ends after it
        assert error["code"] == "BUDGET_EXCEEDED" and "budget" in error["message"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        1008,
        "BUDGET_EXCEEDED",
    )
    wait_until(lambda: fake.open_sessions == 0, timeout=5)
    with pytest.raises(InvalidStatus) as refused:  # and the next one is refused at the door
        _raw(gw, "model=rt/gpt-rt", key=BUDGET_KEY)
    assert refused.value.response.status_code == 429
