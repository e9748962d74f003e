"""Fault injection, each fault with its expected outcome, then a check that nothing leaked.

Every upstream is on loopback and every fault is bounded (the aiohttp fake stalls for at most
60 s, the raw-socket ones close after 20 s, the gateway's provider timeout is 2 s). The matrix
runs each fault twice, so a task or connection leaked per request would show in the last test.
The database and Redis outages have their own suites (usage/test_no_loss.py,
usage/test_redis_outage.py, unit/limits/test_outage.py); the matrix here is the upstream side.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.db_backends import gateway_on
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import free_port
from tests.gateway_process import API_KEY, GatewayProcess
from tests.integration.observability.faulty_upstream import FaultyUpstream, established_to

pytestmark = pytest.mark.usefixtures("fakes_reset")

TIMEOUT_S = 2.0
AUTH = {"authorization": f"Bearer {API_KEY}"}
MESSAGES = [{"role": "user", "content": "hi"}]
Faulty = dict[str, FaultyUpstream]


@pytest.fixture(scope="module")
def faulty() -> Iterator[Faulty]:
    servers = {mode: FaultyUpstream(mode).start() for mode in ("slow-read", "bad-json", "drip")}
    yield servers
    for server in servers.values():
        server.stop()


def _provider(name: str, base_url: str) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "openai",
        "base_url": base_url,
        "api_key": "sk-upstream-faults",
        "timeout_s": TIMEOUT_S,
        "stall_timeout_s": TIMEOUT_S,
        "probe_interval_s": 0,
        "models": [{"id": m, "input_cost_per_mtok": 1.0, "output_cost_per_mtok": 2.0} for m in ("gpt-fake",)],
    }


@pytest.fixture(scope="module")
def gw(
    backend: str, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI, faulty: Faulty
) -> Iterator[GatewayProcess]:
    fakeai = _provider("fakeai", fake_openai.base_url + "/v1")
    fakeai["models"] = [
        {"id": m}
        for m in (
            "gpt-fake",
            "fake-stall",
            "fake-stall-first",
            "fake-stall-mid",
            "fake-cut",
            "fake-malformed-sse",
            "fake-html",
            "fake-200-error",
        )
    ]
    config = {
        "providers": [
            fakeai,
            _provider("dead", f"http://127.0.0.1:{free_port()}/v1"),
            _provider("slow", faulty["slow-read"].base_url),
            _provider("badjson", faulty["bad-json"].base_url),
            _provider("drip", faulty["drip"].base_url),
        ],
        "plans": [{"name": "internal", "models": ["*"]}],
        "api_keys": [{"name": "test", "key": API_KEY, "plan": "internal"}],
    }
    env = {"POLYROUTE_PROBES_ENABLED": "false"}
    with gateway_on(backend, tmp_path_factory.mktemp("faults"), config, env=env) as gateway:
        yield gateway


def _gauges(gw: GatewayProcess) -> dict[str, float]:
    text = httpx.get(gw.base_url + "/metrics", timeout=10).text
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}


@pytest.fixture(scope="module")
def idle_tasks(gw: GatewayProcess) -> float:
    """asyncio tasks alive in the idle worker before any fault (after a warm-up, untimed)."""
    assert httpx.post(gw.v1 + "/chat/completions", json=_chat("fakeai/gpt-fake"), headers=AUTH).status_code == 200
    _stream_frames(gw, "fakeai/fake-cut")  # the first estimated usage loads the tokenizer (seconds on a busy box)
    time.sleep(1.2)
    return _gauges(gw)["polyroute_event_loop_tasks"]


def _chat(model: str, stream: bool = False, content: str = "hi") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], "stream": stream}


def _problem(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.headers["x-error-code"] == code
    body = resp.json()
    assert body["error"]["code"] == code and body["detail"]


def _stream_frames(gw: GatewayProcess, model: str) -> list[str]:
    with httpx.stream("POST", gw.v1 + "/chat/completions", json=_chat(model, True), headers=AUTH, timeout=30) as resp:
        assert resp.status_code == 200
        return [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]


def _ends_with_error_event(frames: list[str], code: str) -> None:
    assert frames and frames[-1] != "[DONE]"
    assert json.loads(frames[-1])["error"]["code"] == code


# (fault, how it is provoked, expected outcome)
FAULTS: list[tuple[str, str, bool, Any]] = [
    ("refuses connections", "dead/gpt-fake", False, lambda r: _problem(r, 502, "PROVIDER_ERROR")),
    ("accepts, never answers", "fakeai/fake-stall", False, lambda r: _problem(r, 504, "PROVIDER_TIMEOUT")),
    ("headers, then stalls", "fakeai/fake-stall-first", True, lambda r: _problem(r, 504, "PROVIDER_TIMEOUT")),
    ("malformed JSON", "badjson/gpt-fake", False, lambda r: _problem(r, 502, "PROVIDER_ERROR")),
    ("HTML error page", "fakeai/fake-html", False, lambda r: _problem(r, 502, "PROVIDER_ERROR")),
    ("200 with an error body", "fakeai/fake-200-error", False, lambda r: _problem(r, 502, "PROVIDER_ERROR")),
]


@pytest.mark.parametrize(("fault", "model", "stream", "expect"), FAULTS, ids=[f[0] for f in FAULTS])
@pytest.mark.parametrize("run", [1, 2])
def test_fault_before_the_first_byte(
    gw: GatewayProcess, idle_tasks: float, fault: str, model: str, stream: bool, expect: Any, run: int
) -> None:
    started = time.monotonic()
    resp = httpx.post(gw.v1 + "/chat/completions", json=_chat(model, stream), headers=AUTH, timeout=30)
    expect(resp)
    assert time.monotonic() - started < TIMEOUT_S + 3, f"{fault} was not bounded by the provider timeout"


@pytest.mark.parametrize(
    ("model", "code"), [("fakeai/fake-cut", "PROVIDER_ERROR"), ("fakeai/fake-stall-mid", "PROVIDER_TIMEOUT")]
)
@pytest.mark.parametrize("run", [1, 2])
def test_stream_broken_mid_way_ends_with_an_error_event(
    gw: GatewayProcess, idle_tasks: float, model: str, code: str, run: int
) -> None:
    started = time.monotonic()
    _ends_with_error_event(_stream_frames(gw, model), code)
    assert time.monotonic() - started < TIMEOUT_S + 3


def test_malformed_sse_frame_is_skipped_and_the_answer_completes(gw: GatewayProcess, idle_tasks: float) -> None:
    frames = _stream_frames(gw, "fakeai/fake-malformed-sse")
    assert frames[-1] == "[DONE]"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in map(json.loads, frames[:-1]) if c["choices"])
    assert text == "Hello from fake-malformed-sse. You said: hi"


@pytest.mark.parametrize("run", [1, 2])
def test_upstream_slow_to_read_the_request_times_out(
    gw: GatewayProcess, faulty: Faulty, idle_tasks: float, run: int
) -> None:
    """Slowloris toward us: a 16 MB body (more than loopback socket buffers hold) the upstream reads at
    10 KB/s; the timeout covers the send too, and giving up drops the connection instead of flushing the
    rest for minutes."""
    slow = faulty["slow-read"]
    accepted_before = slow.accepted
    started = time.monotonic()
    resp = httpx.post(
        gw.v1 + "/chat/completions", json=_chat("slow/gpt-fake", content="x" * 16_000_000), headers=AUTH, timeout=30
    )
    _problem(resp, 504, "PROVIDER_TIMEOUT")
    assert time.monotonic() - started < TIMEOUT_S + 3
    assert slow.accepted > accepted_before  # the request did reach the slow reader
    # aiohttp writes the body from a task of its own, which lets go of the socket a moment after the 504.
    deadline = time.monotonic() + 2
    while established_to(slow.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert established_to(slow.port) == 0, "the gateway kept the slow upstream's connection open"


@pytest.mark.parametrize("run", [1, 2])
def test_client_leaving_mid_stream_cancels_the_upstream_call_and_is_accounted(
    gw: GatewayProcess, faulty: Faulty, idle_tasks: float, run: int
) -> None:
    drip = faulty["drip"]
    closed_before = len(drip.closed_by_peer_at)
    frames = 0
    with httpx.stream(
        "POST", gw.v1 + "/chat/completions", json=_chat("drip/gpt-fake", True), headers=AUTH, timeout=30
    ) as resp:
        assert resp.status_code == 200
        request_id = resp.headers["x-request-id"]
        for line in resp.iter_lines():
            frames += line.startswith("data: ")
            if frames == 3:
                break  # leaving the block closes the connection mid-stream
    left = time.monotonic()
    while len(drip.closed_by_peer_at) == closed_before and time.monotonic() - left < 3:
        time.sleep(0.05)
    assert len(drip.closed_by_peer_at) > closed_before, "the upstream stream kept running after the caller left"
    assert drip.closed_by_peer_at[-1] - left < 1.5
    row = gw.logged(request_id)
    assert row["status"] == 499 and row["stream"] is True
    assert row["completion_tokens"] >= 3 and row["prompt_tokens"] > 0, row  # what was relayed is still counted


def test_nothing_leaks_after_the_faults(gw: GatewayProcess, faulty: Faulty, idle_tasks: float) -> None:
    """Runs last: no request in flight, no upstream connection checked out, no task left behind, no traceback."""
    deadline = time.monotonic() + 5
    gauges = _gauges(gw)
    while time.monotonic() < deadline:
        gauges = _gauges(gw)
        settled = gauges["polyroute_inflight_requests"] == 0 and gauges["polyroute_upstream_connections_in_use"] == 0
        if settled and gauges["polyroute_event_loop_tasks"] <= idle_tasks + 2:
            break
        time.sleep(0.3)
    assert gauges["polyroute_inflight_requests"] == 0
    assert gauges["polyroute_upstream_connections_in_use"] == 0
    # The matrix above made about 30 failed requests: a task leaked per request would be far past this.
    assert gauges["polyroute_event_loop_tasks"] <= idle_tasks + 2, (gauges, idle_tasks)
    assert {mode: established_to(server.port) for mode, server in faulty.items()} == dict.fromkeys(faulty, 0)
    log = gw.log()
    assert "Traceback" not in log and "Task was destroyed" not in log, log[-3000:]
