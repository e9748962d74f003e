"""The upstream keep-alive pool's limits, end to end: POLYROUTE_UPSTREAM_MAX_IDLE bounds what a
burst of calls leaves open, and 0 turns reuse off."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY, GatewayProcess, start_gateway


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


def upstream(fake: FakeOpenAI) -> dict[str, object]:
    """The fake as provider `up`, unprobed (probes would add connections of their own)."""
    base_url = fake.base_url + "/v1"
    return {"name": "up", "kind": "openai", "api_key": "sk-up", "probe_interval_s": 0, "base_url": base_url}


def gateway(tmp_path: Path, fake: FakeOpenAI, max_idle: int) -> GatewayProcess:
    models = [{"id": m} for m in ("fake-slow-300", "fake-slow-301", "gpt-fake")]
    config = {
        "providers": [{**upstream(fake), "models": models}],
        "api_keys": [{"name": "k", "key": API_KEY}],
    }
    return start_gateway(tmp_path, config, env={"POLYROUTE_UPSTREAM_MAX_IDLE": str(max_idle)})


def peers(fake: FakeOpenAI, model: str) -> list[str]:
    return [r.peer for r in fake.requests_for("/chat/completions") if r.json()["model"] == model]


def test_after_a_burst_only_max_idle_connections_are_reused(tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.reset()
    gw = gateway(tmp_path, fake, max_idle=2)
    try:
        client = gw.openai()

        def ask(model: str) -> str | None:
            answer = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
            return answer.choices[0].message.content

        with ThreadPoolExecutor(6) as burst:  # six calls in flight at once: six upstream connections
            assert all(burst.map(ask, ["up/fake-slow-300"] * 6))
        first = set(peers(fake, "fake-slow-300"))
        assert len(first) == 6
        with ThreadPoolExecutor(3) as burst:
            assert all(burst.map(ask, ["up/fake-slow-301"] * 3))
        second = set(peers(fake, "fake-slow-301"))
        assert len(second) == 3
        assert len(second & first) == 2  # two were kept from the first burst, the other four closed
    finally:
        gw.stop()


def test_max_idle_zero_opens_a_connection_per_call(tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.reset()
    gw = gateway(tmp_path, fake, max_idle=0)
    try:
        client = gw.openai()
        for _ in range(3):
            client.chat.completions.create(model="up/gpt-fake", messages=[{"role": "user", "content": "hi"}])
        assert len(set(peers(fake, "gpt-fake"))) == 3
    finally:
        gw.stop()


def solo_gateway(tmp_path: Path, fake: FakeOpenAI) -> GatewayProcess:
    """One target, retries off: a failed attempt is the call's failure."""
    config = {
        "providers": [{**upstream(fake), "models": [{"id": "gpt-fake"}]}],
        "routes": [
            {"name": "route/solo", "targets": [{"provider": "up", "model": "gpt-fake"}], "params": {"retries": 0}}
        ],
        "api_keys": [{"name": "k", "key": API_KEY}],
    }
    return start_gateway(tmp_path, config)


@pytest.mark.parametrize("stream", [False, True])
def test_a_kept_alive_connection_closed_under_a_call_is_not_the_upstreams_failure(
    tmp_path: Path, fake: FakeOpenAI, stream: bool
) -> None:
    """The upstream closes a reused connection as it reads the request, without a byte of answer (the
    idle-close race): the call is sent again at once on a new connection, even with retries off, and
    the target's health does not count it."""
    fake.reset()
    gw = solo_gateway(tmp_path, fake)
    try:
        client = gw.openai()
        messages = [{"role": "user", "content": "hi"}]
        client.chat.completions.create(model="route/solo", messages=messages)  # leaves a kept-alive connection
        fake.script("gpt-fake", {"hang_up": True})
        ask = client.chat.completions.with_raw_response.create
        if stream:
            raw = ask(model="route/solo", messages=messages, stream=True)
            text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
        else:
            raw = ask(model="route/solo", messages=messages)
            text = raw.parse().choices[0].message.content or ""
        assert text
        assert raw.headers["x-polyroute-attempts"] == "2"
        first, dropped, resent = peers(fake, "gpt-fake")
        assert dropped == first and resent != first  # sent on the kept-alive one, then on a new one
        with gw.admin() as admin:
            health = admin.get("/v1/health/providers").json()["data"]
        model = next(p for p in health if p["name"] == "up")["models"][0]
        assert (model["error_rate"], model["consecutive_failures"], model["breaker"]) == (0, 0, "closed")
    finally:
        gw.stop()


def test_a_new_connection_closed_under_a_call_is_a_failure(tmp_path: Path, fake: FakeOpenAI) -> None:
    """Only a reused connection can have been closed as idle: on a new one the same hang-up is the
    upstream failing, and with retries off the call fails with the attempt in the problem."""
    fake.reset()
    gw = solo_gateway(tmp_path, fake)
    try:
        fake.script("gpt-fake", {"hang_up": True})
        with gw.http() as http:
            resp = http.post(
                "/v1/chat/completions",
                json={"model": "route/solo", "messages": [{"role": "user", "content": "hi"}]},
                headers={"Authorization": f"Bearer {API_KEY}"},
            )
        assert resp.status_code == 502 and resp.headers["x-error-code"] == "PROVIDER_ERROR"
        assert "closed by upstream" in resp.json()["error"]["message"]
        assert len(peers(fake, "gpt-fake")) == 1
        with gw.admin() as admin:
            health = admin.get("/v1/health/providers").json()["data"]
        assert next(p for p in health if p["name"] == "up")["models"][0]["consecutive_failures"] == 1
    finally:
        gw.stop()
