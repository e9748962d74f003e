"""Probes, breakers and the health endpoint, on a gateway of its own."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.db_backends import gateway_on
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import free_port
from tests.gateway_process import API_KEY, GatewayProcess


@pytest.fixture(scope="module")
def probed(backend: str, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI) -> Iterator[GatewayProcess]:
    config = {
        "providers": [
            {
                "name": "deadprov",
                "kind": "openai",
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "api_key": "sk-x",
                "timeout_s": 2,
                "probe_interval_s": 1,
                "models": [{"id": "gpt-fake"}],
            },
            {
                "name": "live",
                "kind": "openai",
                "base_url": fake_openai.base_url + "/v1",
                "api_key": "sk-live",
                "timeout_s": 2,
                "probe_interval_s": 1,
                "models": [{"id": "gpt-fake"}, {"id": "fake-500"}, {"id": "gpt-flap"}],
            },
        ],
        "routes": [
            {
                "name": "route/dead-first",
                "targets": [
                    {"provider": "deadprov", "model": "gpt-fake", "priority": 0},
                    {"provider": "live", "model": "gpt-fake", "priority": 1},
                ],
            },
            {
                "name": "route/flap",
                "targets": [
                    {"provider": "live", "model": "gpt-flap", "priority": 0},
                    {"provider": "live", "model": "gpt-fake", "priority": 1},
                ],
            },
        ],
        "api_keys": [{"name": "k", "key": API_KEY}],
    }
    # The tests read everything the session's fake received: start each backend's run from a clean record.
    fake_openai.reset()
    with gateway_on(backend, tmp_path_factory.mktemp("probed"), config) as gw:
        yield gw
    fake_openai.reset()


def _health(gw: GatewayProcess) -> dict[str, dict[str, object]]:
    with gw.admin() as http:
        resp = http.get("/v1/health/providers")
    assert resp.status_code == 200, resp.text
    return {p["name"]: p for p in resp.json()["data"]}


def test_probe_marks_a_dead_provider_down_before_any_request(probed: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        health = _health(probed)
        if health["deadprov"]["probe"] is not None and health["live"]["probe"] is not None:
            break
        time.sleep(0.2)
    assert health["deadprov"]["probe"]["ok"] is False
    assert health["deadprov"]["models"][0]["breaker"] == "open"
    assert health["live"]["probe"]["ok"] is True and health["live"]["probe"]["status"] == 200
    assert health["live"]["models"][0]["breaker"] == "closed"
    # a probe is a free GET /models, never a generation
    assert all(
        r.path == "/v1/models" for r in fake_openai.received if r.headers.get("Authorization") == "Bearer sk-live"
    )
    with httpx.Client(base_url=probed.base_url) as http:
        resp = http.post(
            "/v1/chat/completions",
            json={"model": "route/dead-first", "messages": [{"role": "user", "content": "x"}]},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
    assert resp.status_code == 200
    assert resp.headers["x-polyroute-attempts"] == "1"  # the dead target was skipped, not tried
    assert resp.json()["model"] == "live/gpt-fake"


def test_breaker_opens_after_consecutive_failures_and_a_probe_lets_one_trial_through(
    probed: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    def ask() -> int:
        with httpx.Client(base_url=probed.base_url) as http:
            return http.post(
                "/v1/chat/completions",
                json={"model": "live/fake-500", "messages": [{"role": "user", "content": "x"}]},
                headers={"Authorization": f"Bearer {API_KEY}"},
            ).status_code

    def breaker() -> dict[str, object]:
        return {m["model"]: m for m in _health(probed)["live"]["models"]}["fake-500"]

    for _ in range(2):  # 2 requests x 2 attempts (one retry) = 4 consecutive failures
        ask()
    assert breaker()["breaker"] in {"open", "half-open"}
    assert int(str(breaker()["consecutive_failures"])) >= 3
    # The provider answers its probe (GET /models), which proves the provider, not this model: the
    # breaker goes half-open for one real request instead of closing.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and breaker()["breaker"] != "half-open":
        time.sleep(0.2)
    assert breaker()["breaker"] == "half-open"
    failures = int(str(breaker()["consecutive_failures"]))
    assert ask() == 502  # the trial went upstream and still failed (the model is broken) ...
    after = breaker()
    assert int(str(after["consecutive_failures"])) == failures + 1  # one trial, not a retry burst
    # ... so the breaker opened again (or a probe since made it half-open for the next trial): never closed
    assert after["breaker"] in {"open", "half-open"}


def test_manual_probe_and_auth(probed: GatewayProcess) -> None:
    with probed.admin() as http:
        assert http.post("/v1/health/providers/live/probe").json()["ok"] is True
        assert http.post("/v1/health/providers/deadprov/probe").json()["ok"] is False
        assert http.post("/v1/health/providers/ghost/probe").status_code == 404
    with httpx.Client(base_url=probed.base_url) as http:
        assert http.get("/v1/health/providers").status_code == 401
        assert http.get("/v1/health/providers", headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 403


def test_probes_reuse_the_providers_pooled_connection(probed: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    """A probe rides the provider's keep-alive pool: it costs the provider no new connection (and
    the gateway no TLS setup on its event loop, which stalled every request in flight)."""
    before = len(fake_openai.requests_for("/v1/models"))
    with probed.admin() as http:
        for _ in range(5):
            assert http.post("/v1/health/providers/live/probe").json()["ok"] is True
    probes = fake_openai.requests_for("/v1/models")[before:]
    assert len(probes) >= 5
    peers = {r.peer for r in probes}
    assert "" not in peers
    assert len(peers) <= 2  # one pooled connection (two if a timed probe ran alongside a manual one)


def test_traffic_returns_to_a_recovered_target_within_seconds(probed: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    def ask() -> httpx.Response:
        with httpx.Client(base_url=probed.base_url) as http:
            resp = http.post(
                "/v1/chat/completions",
                json={"model": "route/flap", "messages": [{"role": "user", "content": "x"}]},
                headers={"Authorization": f"Bearer {API_KEY}"},
            )
        assert resp.status_code == 200, resp.text
        return resp

    fake_openai.script("gpt-flap", *[{"status": 500}] * 3)  # three failures open its breaker

    def flap() -> list[object]:
        return [r for r in fake_openai.requests_for("/chat/completions") if r.json()["model"] == "gpt-flap"]

    for _ in range(5):  # the callers never notice: the backup answers meanwhile
        if len(flap()) >= 3:
            break
        ask()
    assert len(flap()) == 3
    # the target answers again; the breaker must not strand it (the provider's next probe closes it)
    recovered = time.monotonic()
    while ask().json()["model"] != "live/gpt-flap":
        assert time.monotonic() - recovered < 5, "a recovered target got no traffic within 5 s"
        time.sleep(0.1)
