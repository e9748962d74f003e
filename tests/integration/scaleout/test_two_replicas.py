"""Two replicas on one Postgres database and one Redis: any replica serves any request.

Load alternates A, B, A, B, ... and is concurrent. One daily cap is exact across the pair, with the
counters in Redis and, on a second pair without Redis, in Postgres. A key revoked or a provider
disabled on A takes effect on B within 2 s, every request is in the request log exactly once, and a
stored response made on one replica continues on (and is deleted from) the other at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.db_backends import database_url
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess, start_gateway
from tests.integration.scaleout.conftest import (
    Replicas,
    forget_counters,
    scaleout_config,
    spread,
    start_replicas,
    unique,
    usage_ids,
    wait_for,
)
from tests.integration.usage.harness import BODY, fetch, new_key

pytestmark = pytest.mark.postgres

PROPAGATION_S = 2.0
"""How soon a management change on one replica must hold on the other."""


def _pair(tmp: Path, fake: FakeOpenAI, redis_url: str | None) -> Iterator[Replicas]:
    # POLYROUTE_LIMITS_BACKEND stays `auto`: Redis when POLYROUTE_REDIS_URL is set, else Postgres.
    with database_url("postgres", tmp / "db") as url:
        pair = start_replicas(tmp, scaleout_config(fake), database_url=url, redis_url=redis_url)
        try:
            yield pair
        finally:
            pair.stop()
            if redis_url is not None:
                forget_counters(redis_url, url)


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI, scaleout_redis_url: str
) -> Iterator[Replicas]:
    """The pair every test here uses: counters in Redis."""
    yield from _pair(tmp_path_factory.mktemp("scaleout-redis"), fake_openai, scaleout_redis_url)


@pytest.fixture(scope="module")
def replicas_without_redis(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI) -> Iterator[Replicas]:
    """A second pair, for the cap: no Redis, so the counters live in Postgres."""
    yield from _pair(tmp_path_factory.mktemp("scaleout-postgres"), fake_openai, None)


def _not_at_midnight() -> None:
    """Sleep past UTC midnight when it is less than 15 s away: a new day mid-burst resets the cap."""
    now = datetime.now(UTC)
    left = 86400 - (now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6)
    if left < 15:
        time.sleep(left + 0.1)


def _admin(gw: GatewayProcess) -> httpx.Client:
    return gw.admin()


def _known(gw: GatewayProcess, key: str) -> bool:
    """The replica authenticates `key` (GET /v1/models admits nothing, so no cap is spent)."""
    with gw.http() as http:
        return http.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def _chat(gw: GatewayProcess, key: str, body: dict[str, Any] | None = None) -> httpx.Response:
    with gw.http() as http:
        return http.post("/v1/chat/completions", json=body or BODY, headers={"Authorization": f"Bearer {key}"})


@pytest.mark.parametrize(
    "pair",
    [
        pytest.param("replicas", id="redis-counters", marks=pytest.mark.redis),
        pytest.param("replicas_without_redis", id="postgres-counters"),
    ],
)
def test_a_daily_cap_admits_exactly_n_across_both_replicas(request: pytest.FixtureRequest, pair: str) -> None:
    replicas: Replicas = request.getfixturevalue(pair)
    _not_at_midnight()
    key, key_id = new_key(replicas.a.base_url, replicas.a.admin_key, daily_requests=50)
    wait_for(lambda: _known(replicas.b, key), PROPAGATION_S, "B knows the key made on A")
    sent = spread(replicas, key, 120, BODY)
    ok = [s for s in sent if s.status == 200]
    refused = [s for s in sent if s.status == 429]
    assert (len(ok), len(refused)) == (50, 70), [(s.status, s.code) for s in sent if s.status not in (200, 429)]
    assert {s.code for s in refused} == {"DAILY_REQUEST_LIMIT_EXCEEDED"}
    per_replica = [sum(1 for s in ok if s.replica == r) for r in (0, 1)]
    print(f"daily cap 50 over A+B: 120 sent (60 each), admitted A={per_replica[0]} B={per_replica[1]}")
    assert min(per_replica) > 0  # both replicas admitted, so the one cap was counted from both
    # The counter lives where the deployment says: Redis when configured, else Postgres.
    day = datetime.now(UTC).strftime("%Y%m%d")
    if replicas.redis_url is not None:
        import redis

        client = redis.Redis.from_url(replicas.redis_url)
        try:
            assert float(client.get(f"polyroute:limits:day:{key_id}:{day}") or 0) == 50
        finally:
            client.close()
    else:
        rows = fetch(replicas.database_url, "SELECT value FROM limit_counter WHERE key = ?", f"day:{key_id}:{day}")
        assert rows == [{"value": 50.0}]
    assert _chat(replicas.b, key).status_code == 429
    assert _chat(replicas.a, key).status_code == 429
    # Refusals are requests too: all 122 calls are in the request log, once each.
    by_status = "SELECT status, COUNT(*) AS n FROM usage_event WHERE key_id = ? GROUP BY status ORDER BY status"
    expected = [{"status": 200, "n": 50}, {"status": 429, "n": 72}]
    wait_for(lambda: fetch(replicas.database_url, by_status, key_id) == expected, 10, "usage rows of the burst")
    ids = [s.request_id for s in sent if s.request_id]
    assert len(usage_ids(replicas.database_url, ids)) == 120


@pytest.mark.redis
def test_every_request_is_in_usage_exactly_once(replicas: Replicas) -> None:
    key, key_id = new_key(replicas.a.base_url, replicas.a.admin_key)
    wait_for(lambda: _known(replicas.b, key), PROPAGATION_S, "B knows the key made on A")
    sent = spread(replicas, key, 100, BODY) + spread(replicas, key, 40, {**BODY, "stream": True})
    assert [s.status for s in sent] == [200] * 140
    ids = [s.request_id for s in sent if s.request_id is not None]
    assert len(set(ids)) == 140
    wait_for(lambda: len(usage_ids(replicas.database_url, ids)) == 140, 10, "every request id in usage_event")
    time.sleep(0.5)  # a few more flush intervals: nothing is written twice, nothing extra appears
    count = "SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d FROM usage_event WHERE key_id = ?"
    assert fetch(replicas.database_url, count, key_id) == [{"n": 140, "d": 140}]
    rolled = "SELECT COALESCE(SUM(requests), 0) AS n FROM usage_hourly WHERE key_id = ?"
    assert fetch(replicas.database_url, rolled, key_id) == [{"n": 140}]
    for gw in replicas.both:
        assert "usage write failed" not in gw.log()  # concurrent flushes of two replicas never deadlock


class _Hammer:
    """A thread calling one replica with one key as fast as it answers, noting (time, status, provider)."""

    def __init__(self, gw: GatewayProcess, key: str, body: dict[str, Any]) -> None:
        self.gw, self.key, self.body = gw, key, body
        self.seen: list[tuple[float, int, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with self.gw.http() as http:
            while not self._stop.is_set():
                resp = http.post(
                    "/v1/chat/completions", json=self.body, headers={"Authorization": f"Bearer {self.key}"}
                )
                self.seen.append((time.monotonic(), resp.status_code, resp.headers.get("x-polyroute-provider")))

    def __enter__(self) -> _Hammer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)


@pytest.mark.redis
def test_a_key_revoked_on_a_is_refused_by_b_within_2s(replicas: Replicas) -> None:
    key, key_id = new_key(replicas.a.base_url, replicas.a.admin_key)
    wait_for(lambda: _chat(replicas.b, key).status_code == 200, PROPAGATION_S, "B serves the key made on A")
    with _Hammer(replicas.b, key, BODY) as load:
        wait_for(lambda: len(load.seen) >= 5, 5, "traffic on B")
        revoked_at = time.monotonic()
        with _admin(replicas.a) as admin:
            assert admin.delete(f"/v1/api-keys/{key_id}").status_code == 200
        assert _chat(replicas.a, key).status_code == 401
        wait_for(lambda: any(t > revoked_at and s == 401 for t, s, _ in load.seen), 5, "B refuses the key")
        time.sleep(0.3)
    first_401 = min(t for t, s, _ in load.seen if t > revoked_at and s == 401)
    after = [s for t, s, _ in load.seen if t >= first_401]
    print(f"revoked on A -> first 401 on B after {1000 * (first_401 - revoked_at):.0f} ms")
    assert first_401 - revoked_at < PROPAGATION_S
    assert set(after) == {401}  # and it stays refused


@pytest.mark.redis
def test_a_provider_disabled_on_a_gets_no_traffic_from_b_within_2s(replicas: Replicas, spare: FakeOpenAI) -> None:
    key, _ = new_key(replicas.a.base_url, replicas.a.admin_key)
    name = unique("spare")
    provider = {"name": name, "kind": "openai", "base_url": spare.base_url + "/v1", "api_key": "sk-spare"}
    targets = [{"provider": name, "model": "gpt-fake"}, {"provider": "fakeai", "model": "gpt-fake", "priority": 1}]
    route = {"name": f"route/{name}", "strategy": "priority-fallback", "targets": targets}
    with _admin(replicas.a) as admin:  # made through A's management API, like the change below
        assert admin.post("/v1/configs", json={**provider, "models": [{"id": "gpt-fake"}]}).status_code == 201
        assert admin.post("/v1/routes", json=route).status_code == 201
    body = {**BODY, "model": route["name"]}  # the spare first; fakeai when the spare is unavailable
    wait_for(lambda: _chat(replicas.b, key, body).headers.get("x-polyroute-provider") == name, 2, "B uses it")

    def calls() -> int:
        return len(spare.requests_for("/chat/completions"))

    with _Hammer(replicas.b, key, body) as load:
        wait_for(lambda: len(load.seen) >= 5, 5, "traffic on B")
        disabled_at, seen = time.monotonic(), calls()
        with _admin(replicas.a) as admin:
            assert admin.patch(f"/v1/configs/{name}", json={"enabled": False}).status_code == 200
        last_change = disabled_at
        while time.monotonic() < disabled_at + PROPAGATION_S:
            if calls() != seen:
                last_change, seen = time.monotonic(), calls()
            time.sleep(0.005)
        settled = calls()
        time.sleep(1.0)  # B keeps calling the route: the spare must stay silent
        assert calls() == settled
    served = [(s, p) for t, s, p in load.seen if t > disabled_at + PROPAGATION_S]
    print(f"provider disabled on A -> last call from B seen {1000 * (last_change - disabled_at):.0f} ms after PATCH")
    assert served and {s for s, _ in served} == {200}  # the route falls through to fakeai meanwhile
    assert {p for _, p in served} == {"fakeai"}


@pytest.mark.redis
def test_a_stored_response_continues_and_is_deleted_across_replicas(replicas: Replicas) -> None:
    key, _ = new_key(replicas.a.base_url, replicas.a.admin_key)
    wait_for(lambda: _known(replicas.b, key), PROPAGATION_S, "B knows the key made on A")
    on_a, on_b = replicas.a.openai(key=key), replicas.b.openai(key=key)
    for maker, follower in ((on_a, on_b), (on_b, on_a)):
        # No pause: the follow-up lands on the other replica right away (before any batched write).
        first = maker.responses.create(model="compat/gpt-fake", input="my name is Ada")
        second = follower.responses.create(model="compat/gpt-fake", input="and now?", previous_response_id=first.id)
        assert second.output_text.endswith("You said: and now?")
        assert follower.responses.retrieve(first.id).output_text == first.output_text
        assert maker.responses.retrieve(second.id).output_text == second.output_text
        # Deleted on one replica: gone on the other too, even though it had just read it.
        maker.responses.delete(first.id)
        with pytest.raises(openai.NotFoundError):
            follower.responses.retrieve(first.id)


def test_a_replica_with_a_secret_key_of_its_own_says_so(replicas: Replicas, tmp_path: Path) -> None:
    """POLYROUTE_SECRET_KEY is what replicas must share. One started without it generates a key file of
    its own, warns at start, and names each provider credential it cannot decrypt (rather than silently
    calling upstream without it)."""
    stray = start_gateway(tmp_path, None, database_url=replicas.database_url)
    try:
        wait_for(lambda: "cannot decrypt the credential of provider 'fakeai'" in stray.log(), 5, "the stray's error")
    finally:
        stray.stop()
    assert "POLYROUTE_SECRET_KEY is unset" in stray.log()
    for gw in replicas.both:
        assert "POLYROUTE_SECRET_KEY is unset" not in gw.log()
        assert "cannot decrypt" not in gw.log()
