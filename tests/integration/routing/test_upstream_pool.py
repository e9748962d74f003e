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


def gateway(tmp_path: Path, fake: FakeOpenAI, max_idle: int) -> GatewayProcess:
    models = [{"id": m} for m in ("fake-slow-300", "fake-slow-301", "gpt-fake")]
    provider = {"kind": "openai", "api_key": "sk-up", "probe_interval_s": 0, "base_url": fake.base_url + "/v1"}
    config = {
        "providers": [{**provider, "name": "up", "models": models}],
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
