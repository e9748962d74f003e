"""A private redis-server killed under a running gateway: fail-open (default) or fail-closed, then recovery."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess, start_gateway
from tests.integration.usage.harness import BODY, KEYS, usage_config, wait_until
from tests.integration.usage.redis_server import PrivateRedis

pytestmark = pytest.mark.redis


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.kill()


def gateway(tmp_path: Path, fake: FakeOpenAI, redis: PrivateRedis, fail_closed: bool) -> GatewayProcess:
    env = {"POLYROUTE_REDIS_URL": redis.url, "POLYROUTE_LIMITS_FAIL_CLOSED": "true" if fail_closed else "false"}
    return start_gateway(tmp_path / "gw", usage_config(fake), env=env)


def call(gw: GatewayProcess) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    with gw.http() as http:
        resp = http.post("/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {KEYS['day3']}"})
    return resp, time.monotonic() - start


def test_fail_open_admits_while_redis_is_down_and_enforces_again_when_it_returns(
    tmp_path: Path, fake_openai: FakeOpenAI, redis: PrivateRedis
) -> None:
    gw = gateway(tmp_path, fake_openai, redis, fail_closed=False)
    try:
        assert [call(gw)[0].status_code for _ in range(4)] == [200, 200, 200, 429]
        redis.kill()
        during = [call(gw) for _ in range(6)]
        assert [r.status_code for r, _ in during] == [200] * 6  # over the cap, but the policy is fail-open
        assert all("x-ratelimit-limit-requests" not in r.headers for r, _ in during)
        assert max(seconds for _, seconds in during) < 2.5  # a dead Redis never hangs a request (redis-py alone: ~20 s)
        assert "admitting without limits (fail-open)" in gw.log()
        redis.start()  # empty again: the day starts over
        wait_until(lambda: "x-ratelimit-remaining-requests" in call(gw)[0].headers, timeout=5)
        statuses = [call(gw)[0].status_code for _ in range(3)]
        assert statuses == [200, 200, 429]  # one admitted by the recovery probe above, then the cap holds
        assert "reachable again" in gw.log()
    finally:
        assert gw.stop() == 0


def test_fail_closed_refuses_with_503_while_redis_is_down(
    tmp_path: Path, fake_openai: FakeOpenAI, redis: PrivateRedis
) -> None:
    gw = gateway(tmp_path, fake_openai, redis, fail_closed=True)
    try:
        assert call(gw)[0].status_code == 200
        redis.kill()
        for _ in range(3):
            resp, seconds = call(gw)
            assert resp.status_code == 503 and resp.headers["x-error-code"] == "SERVICE_UNAVAILABLE"
            assert resp.headers["retry-after"] == "1" and seconds < 2.5
        with gw.http() as http:  # keys without limits never needed Redis
            open_call = http.post(
                "/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {KEYS['open']}"}
            )
        assert open_call.status_code == 200
        redis.start()
        wait_until(lambda: call(gw)[0].status_code == 200, timeout=5)
    finally:
        assert gw.stop() == 0
