"""/v1/usage, /v1/usage/series and /v1/requests through the real server on SQLite and Postgres."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.db_backends import BACKENDS, database_url
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess, start_gateway
from tests.integration.usage.harness import PRICE, fetch, usage_config, wait_until
from tests.integration.usage.reasoning_fake import ReasoningFake

MESSAGES = [{"role": "user", "content": "usage please"}]


@dataclass
class World:
    """One gateway with known traffic: who made which calls, and which keys exist."""

    gw: GatewayProcess
    keys: dict[str, dict[str, Any]]
    """name -> the api-keys create response (secret in `key`)."""
    user_token: str

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.gw.base_url, timeout=30, headers=headers)

    def admin(self) -> httpx.Client:
        return self.client(self.gw.admin_key)

    def chat(self, key: str, **body: Any) -> httpx.Response:
        with self.client(key) as http:
            resp = http.post("/v1/chat/completions", json={"messages": MESSAGES, **body})
            resp.read()
            return resp


def _setup(gw: GatewayProcess) -> World:
    with httpx.Client(base_url=gw.base_url, timeout=30, headers={"Authorization": f"Bearer {gw.admin_key}"}) as admin:
        assert admin.post("/v1/plans", json={"name": "team", "models": ["*"]}).status_code == 201
        password = "pw-" + secrets.token_hex(8)
        user = admin.post("/v1/users", json={"username": "ann", "password": password, "role": "user", "plan": "team"})
        assert user.status_code == 201, user.text
        token = httpx.post(gw.base_url + "/v1/auth/token", json={"username": "ann", "password": password}).json()[
            "access_token"
        ]
        keys = {name: admin.post("/v1/api-keys", json={"name": name, "plan": "team"}).json() for name in ("a", "b")}
    with httpx.Client(base_url=gw.base_url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as mine:
        keys["ann"] = mine.post("/v1/api-keys", json={"name": "ann-key"}).json()
    return World(gw, keys, token)


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI
) -> Iterator[World]:
    reasoner = ReasoningFake().start()
    tmp = tmp_path_factory.mktemp(f"usage-api-{request.param}")
    with database_url(str(request.param), tmp) as url:
        gw = start_gateway(tmp, usage_config(fake_openai, reasoner=reasoner), database_url=url)
        w = _setup(gw)
        a, b, ann = (w.keys[n]["key"] for n in ("a", "b", "ann"))
        for _ in range(3):
            assert w.chat(a, model="fakeai/gpt-fake").status_code == 200
        assert w.chat(a, model="fakeai/fake-400").status_code == 400
        assert w.chat(b, model="route/fallback").status_code == 200
        assert w.chat(b, model="reasoner/r1", stream=True).status_code == 200
        assert w.chat(b, model="reasoner/r1").status_code == 200
        assert w.chat(ann, model="fakeai/fake-no-usage", stream=True).status_code == 200
        wait_until(lambda: fetch(url, "SELECT COUNT(*) AS n FROM usage_event")[0]["n"] == 8)
        yield w
        gw.stop()
    reasoner.stop()


def by_key(world: World, name: str) -> str:
    return str(world.keys[name]["id"])


def test_totals_groups_filters_and_csv(world: World) -> None:
    with world.admin() as admin:
        total = admin.get("/v1/usage").json()
        assert total["group_by"] == [] and total["data"][0]["requests"] == 8
        grouped = admin.get("/v1/usage", params=[("group_by", "key"), ("group_by", "model,status")]).json()["data"]
        mine = {(g["key_id"], g["model"], g["status"]): g["requests"] for g in grouped}
        a = by_key(world, "a")
        # an upstream's caller error still names the target that answered it
        assert mine[(a, "gpt-fake", 200)] == 3 and mine[(a, "fake-400", 400)] == 1
        errors = admin.get("/v1/usage", params={"status": "4xx", "group_by": "status"}).json()["data"]
        assert [(g["status"], g["requests"], g["errors"], g["model"]) for g in errors] == [(400, 1, 1, None)]
        by_model = admin.get("/v1/usage", params={"status": "4xx", "group_by": "model"}).json()["data"]
        assert [(g["model"], g["requests"]) for g in by_model] == [("fake-400", 1)]
        assert admin.get("/v1/usage", params={"model": "r1"}).json()["data"][0]["requests"] == 2
        assert admin.get("/v1/usage", params={"from": "2999-01-01"}).json()["data"] == []
        assert admin.get("/v1/usage", params={"to": "2000-01-01T00:00:00Z"}).json()["data"] == []
        day = admin.get("/v1/usage", params={"group_by": "day", "from": "2000-01-01"}).json()["data"]
        assert len(day) == 1 and day[0]["requests"] == 8 and day[0]["latency_ms_p95"] is not None
        for resp in (
            admin.get("/v1/usage", params={"group_by": "key", "format": "csv"}),
            admin.get("/v1/usage", params={"group_by": "key"}, headers={"Accept": "text/csv"}),
        ):
            assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
            table = list(csv.DictReader(io.StringIO(resp.text)))
            assert {r["key_id"]: int(r["requests"]) for r in table}[a] == 4
            assert "cost_usd" in table[0] and "latency_ms_p50" in table[0]


def test_request_log_rows_attempts_and_cursor(world: World) -> None:
    b = by_key(world, "b")
    with world.admin() as admin:
        page = admin.get("/v1/requests", params={"key_id": b}).json()
        routed = next(r for r in page["data"] if r["route"] == "route/fallback")
        assert [a["outcome"] for a in routed["attempts"]] == ["error", "ok"]
        assert routed["attempts"][0]["status"] == 500 and routed["attempt_count"] == 2
        assert routed["model"] == "gpt-fake" and routed["requested_model"] == "route/fallback"
        failed = admin.get("/v1/requests", params={"status": "400"}).json()["data"]
        assert len(failed) == 1 and failed[0]["error"]
        seen, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = admin.get("/v1/requests", params=params).json()
            seen += [r["id"] for r in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert len(seen) == len(set(seen)) == 8
        offset = admin.get("/v1/requests", params={"limit": 3, "offset": 3}).json()["data"]
        assert [r["id"] for r in offset] == seen[3:6]
        one = admin.get(f"/v1/requests/{routed['id']}")  # one request, as the log lists it
        assert one.status_code == 200 and one.json() == routed
        missing = admin.get("/v1/requests/req_0000000000000000000000ff")
        assert missing.status_code == 404 and missing.headers["x-error-code"] == "NOT_FOUND"
        used = admin.get(f"/v1/api-keys/{b}").json()["last_used_at"]
        assert used is not None  # written by the usage writer, once per key and flush


def test_stream_cost_counts_cached_and_reasoning_tokens(world: World) -> None:
    expected = (200 * 2.0 + 800 * 0.5 + 300 * 8.0) / 1e6  # 200 fresh + 800 cached prompt, 300 output (200 reasoning)
    with world.admin() as admin:
        rows = admin.get("/v1/requests", params={"model": "r1"}).json()["data"]
    assert sorted(r["stream"] for r in rows) == [False, True]
    for row in rows:
        assert (row["prompt_tokens"], row["cached_tokens"]) == (1000, 800)
        assert (row["completion_tokens"], row["reasoning_tokens"]) == (300, 200)
        assert row["cost_usd"] == pytest.approx(expected, rel=1e-12)
        assert not row["estimated"]


def test_streams_without_upstream_usage_are_counted_and_flagged(world: World) -> None:
    with world.admin() as admin:
        (row,) = admin.get("/v1/requests", params={"model": "fake-no-usage"}).json()["data"]
        assert row["estimated"] and row["stream"]
        assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
        price = (row["prompt_tokens"] * PRICE["input_cost_per_mtok"]) + (
            row["completion_tokens"] * PRICE["output_cost_per_mtok"]
        )
        assert row["cost_usd"] == pytest.approx(price / 1e6)
        totals = admin.get("/v1/usage", params={"model": "fake-no-usage"}).json()["data"][0]
        assert totals["estimated_requests"] == 1


def test_series_for_the_dashboard(world: World) -> None:
    with world.admin() as admin:
        for window, buckets in (("hour", 12), ("day", 24), ("week", 28)):
            series = admin.get("/v1/usage/series", params={"window": window, "by": "model"}).json()
            assert series["bucket_s"] * buckets == {"hour": 3600, "day": 86400, "week": 7 * 86400}[window]
            assert sum(p["requests"] for p in series["points"]) == 8
            assert {p["group"] for p in series["points"]} >= {"gpt-fake", "r1"}
            assert len(series["points"]) % buckets == 0


def test_who_sees_what(world: World) -> None:
    a, ann = by_key(world, "a"), by_key(world, "ann")
    with world.client(world.keys["a"]["key"]) as key_a:  # an inference key sees only itself
        assert key_a.get("/v1/usage").json()["data"][0]["requests"] == 4
        assert key_a.get("/v1/usage", params={"key_id": ann}).status_code == 404
        assert sum(p["requests"] for p in key_a.get("/v1/usage/series").json()["points"]) == 4
        denied = key_a.get("/v1/requests")
        assert denied.status_code == 403 and denied.headers["x-error-code"] == "PERMISSION_DENIED"
    with world.client(world.user_token) as user:  # a user token sees its own keys only
        assert [g["key_id"] for g in user.get("/v1/usage", params={"group_by": "key"}).json()["data"]] == [ann]
        assert {r["key_id"] for r in user.get("/v1/requests").json()["data"]} == {ann}
        assert user.get("/v1/usage", params={"key_id": a}).status_code == 404
        assert user.get("/v1/requests", params={"key_id": a}).status_code == 404
        own = user.get("/v1/requests").json()["data"][0]["id"]
        assert user.get(f"/v1/requests/{own}").json()["key_id"] == ann
    with world.admin() as admin:
        foreign = admin.get("/v1/requests", params={"key_id": a}).json()["data"][0]["id"]
    with world.client(world.user_token) as user:
        assert user.get(f"/v1/requests/{foreign}").status_code == 404  # another user's request: not there
    with world.client(world.keys["a"]["key"]) as key_a:
        assert key_a.get(f"/v1/requests/{foreign}").status_code == 403  # the log is not for inference keys
    with world.admin() as admin:
        assert len(admin.get("/v1/usage", params={"group_by": "key"}).json()["data"]) == 3
        assert admin.get("/v1/requests", params={"key_id": ann}).json()["data"][0]["key_id"] == ann


@pytest.mark.parametrize("path", ["/v1/usage", "/v1/usage/series", "/v1/requests", "/v1/requests/req_x"])
def test_credentials_are_required(world: World, path: str) -> None:
    for token, status in ((None, 401), ("sk-poly-not-a-key-0000000000", 401), ("a.b.c", 401)):
        with world.client(token) as client:
            resp = client.get(path)
        assert resp.status_code == status, (token, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
    with world.admin() as admin:
        revoked = admin.post("/v1/api-keys", json={"name": "gone"}).json()
        admin.delete(f"/v1/api-keys/{revoked['id']}")
    with world.client(revoked["key"]) as client:
        assert client.get(path).status_code == 401


BAD_PARAMS: list[tuple[str, dict[str, Any]]] = [
    ("/v1/usage", {"group_by": "colour"}),
    ("/v1/usage", {"group_by": "day,colour"}),
    ("/v1/usage", {"status": "abc"}),
    ("/v1/usage", {"status": "700"}),
    ("/v1/usage", {"status": "6xx"}),
    ("/v1/usage", {"from": "yesterday"}),
    ("/v1/usage", {"from": "2026-13-01"}),
    ("/v1/usage", {"from": "2026-02-01", "to": "2026-01-01"}),
    ("/v1/usage", {"format": "xml"}),
    ("/v1/usage", {"key_id": "k" * 201}),
    ("/v1/usage", {"end_user": "u" * 201}),
    ("/v1/usage", {"tag": "t" * 65}),
    ("/v1/usage", {"end_user": "a\x00b"}),
    ("/v1/usage", {"group_by": "end_user,tags"}),
    ("/v1/usage/series", {"window": "year"}),
    ("/v1/usage/series", {"by": "colour"}),
    ("/v1/requests", {"limit": "abc"}),
    ("/v1/requests", {"limit": 0}),
    ("/v1/requests", {"limit": 501}),
    ("/v1/requests", {"offset": -1}),
    ("/v1/requests", {"offset": "x"}),
    ("/v1/requests", {"cursor": "not-a-cursor"}),
    ("/v1/requests", {"cursor": "x" * 401}),
    ("/v1/requests", {"to": "1e999"}),
    ("/v1/requests", {"status": "5x"}),
    ("/v1/requests", {"tag": "t" * 65}),
]


@pytest.mark.parametrize(("path", "params"), BAD_PARAMS, ids=[f"{p} {q}" for p, q in BAD_PARAMS])
def test_malformed_query_parameters(world: World, path: str, params: dict[str, Any]) -> None:
    with world.admin() as admin:
        resp = admin.get(path, params=params)
    assert resp.status_code in (400, 422), resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["status"] == resp.status_code
