"""Limits through the real server on every counter backend: exact under concurrency, 429s, headers, budgets."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime, timedelta

import httpx

from tests.gateway_process import GatewayProcess
from tests.integration.usage.harness import (
    BODY,
    KEYS,
    TEAM_KEY,
    burst,
    new_key,
    run_async,
    wait_fresh_window,
    wait_until,
)


def seconds_to_midnight() -> float:
    now = datetime.now(UTC)
    return (datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1) - now).total_seconds()


def call(gw: GatewayProcess, key: str, body: dict[str, object] | None = None) -> httpx.Response:
    with gw.http() as http:
        return http.post("/v1/chat/completions", json=body or BODY, headers={"Authorization": f"Bearer {key}"})


def test_daily_cap_admits_exactly_fifty_of_two_hundred_concurrent(limited: GatewayProcess) -> None:
    key, _ = new_key(limited.base_url, limited.admin_key, daily_requests=50)
    wait_fresh_window(5)
    result = burst(limited.base_url, key, 200)
    assert result.count(200) == 50 and result.count(429) == 150, result.statuses
    refused = [r for r in result.responses if r.status_code == 429]
    assert {r.headers["x-error-code"] for r in refused} == {"DAILY_REQUEST_LIMIT_EXCEEDED"}
    assert abs(int(refused[0].headers["retry-after"]) - seconds_to_midnight()) < 30
    for resp in result.responses:  # the headers on every response, admitted or not
        assert resp.headers["x-ratelimit-limit-requests"] == "50"
    remaining = sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in result.responses if r.is_success)
    assert remaining == list(range(50))
    assert call(limited, key).headers["x-error-code"] == "DAILY_REQUEST_LIMIT_EXCEEDED"


def test_rpm_admits_exactly_thirty_of_a_hundred_concurrent(limited: GatewayProcess) -> None:
    key, _ = new_key(limited.base_url, limited.admin_key, rpm=30)
    wait_fresh_window(10)
    result = burst(limited.base_url, key, 100)
    assert result.count(200) == 30 and result.count(429) == 70
    assert set(result.codes) == {None, "RATE_LIMITED"}
    retry = {int(r.headers["retry-after"]) for r in result.responses if r.status_code == 429}
    assert all(1 <= s <= 60 for s in retry)


def test_tokens_and_spend_settle_exactly_under_concurrency(limited: GatewayProcess) -> None:
    """Twenty concurrent calls are admitted (nothing spent yet); their real tokens and cost then add up
    exactly: a limit of 19.5 calls' worth refuses the next call, which one lost update would not."""
    probe = call(limited, KEYS["open"]).json()["usage"]
    tokens = probe["prompt_tokens"] + probe["completion_tokens"]
    cost = (probe["prompt_tokens"] * 3.0 + probe["completion_tokens"] * 15.0) / 1e6
    wait_fresh_window(10)
    tpm_key, _ = new_key(limited.base_url, limited.admin_key, tpm=int(tokens * 19.5))
    budget_key, _ = new_key(limited.base_url, limited.admin_key, monthly_budget_usd=cost * 19.5)
    for key in (tpm_key, budget_key):
        assert burst(limited.base_url, key, 20).count(200) == 20
    time.sleep(1.0)  # settling runs after each response has gone
    refused = call(limited, tpm_key)
    assert refused.status_code == 429 and refused.headers["x-error-code"] == "RATE_LIMITED"
    assert refused.headers["x-ratelimit-remaining-tokens"] == "0"
    spent = call(limited, budget_key)
    assert spent.status_code == 429 and spent.headers["x-error-code"] == "BUDGET_EXCEEDED"
    assert int(spent.headers["retry-after"]) > 60  # until the month ends


def test_budget_runs_out_after_the_calls_it_pays_for(limited: GatewayProcess) -> None:
    probe = call(limited, KEYS["open"]).json()["usage"]
    cost = (probe["prompt_tokens"] * 3.0 + probe["completion_tokens"] * 15.0) / 1e6
    key, _ = new_key(limited.base_url, limited.admin_key, monthly_budget_usd=cost * 3.5)
    statuses = []
    for _ in range(6):
        statuses.append(call(limited, key).status_code)
        time.sleep(0.25)  # settling runs after the response has gone
    assert statuses == [200, 200, 200, 200, 429, 429]  # admitted while spend (0, c, 2c, 3c) < 3.5c


def test_a_daily_budget_runs_out_and_a_teams_too(limited: GatewayProcess) -> None:
    """`daily_budget_usd` (LiteLLM's max_budget with budget_duration 1d) on a plan, and on a team's keys together."""
    wait_fresh_window(30)  # the calls below stay in one UTC day
    probe = call(limited, KEYS["open"]).json()["usage"]
    cost = (probe["prompt_tokens"] * 3.0 + probe["completion_tokens"] * 15.0) / 1e6
    key, _ = new_key(limited.base_url, limited.admin_key, daily_budget_usd=cost * 2.5)
    statuses = []
    for _ in range(4):
        statuses.append(call(limited, key).status_code)
        time.sleep(0.25)  # settling runs after the response has gone
    assert statuses == [200, 200, 200, 429]  # admitted while spend (0, c, 2c) < 2.5c
    refused = call(limited, key)
    assert "per UTC day" in refused.json()["error"]["message"] and refused.headers["x-error-code"] == "BUDGET_EXCEEDED"
    team = f"t-{secrets.token_hex(3)}"
    with limited.admin() as admin:
        made = admin.post("/v1/teams", json={"name": team, "limits": {"daily_budget_usd": cost * 1.5}})
        assert made.status_code == 201 and made.json()["limits"]["daily_budget_usd"] == cost * 1.5
        pair = [admin.post("/v1/api-keys", json={"name": f"{team}-{i}", "team": team}).json()["key"] for i in range(2)]
    time.sleep(1.2)  # the catalog poll brings the new keys to every worker
    first = call(limited, pair[0]).status_code
    time.sleep(0.25)
    second = call(limited, pair[1]).status_code
    time.sleep(0.25)
    third = call(limited, pair[0])
    assert (first, second, third.status_code) == (200, 200, 429)
    assert f"per UTC day for team '{team}'" in third.json()["error"]["message"]


def test_rate_limit_headers_on_streams_and_on_errors_after_admission(limited: GatewayProcess) -> None:
    key, _ = new_key(limited.base_url, limited.admin_key, rpm=1000, tpm=10_000_000)
    with (
        limited.http() as http,
        http.stream(
            "POST", "/v1/chat/completions", json={**BODY, "stream": True}, headers={"Authorization": f"Bearer {key}"}
        ) as resp,
    ):
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["x-ratelimit-limit-requests"] == "1000"
        assert resp.headers["x-ratelimit-limit-tokens"] == "10000000"
        assert "x-ratelimit-reset-requests" in resp.headers
        assert "".join(resp.iter_text()).rstrip().endswith("data: [DONE]")
    failed = call(limited, key, {**BODY, "model": "fakeai/fake-400"})
    assert failed.status_code == 400
    assert failed.headers["x-ratelimit-remaining-requests"] == "998"
    assert "x-ratelimit-remaining-tokens" in failed.headers
    unlimited = call(limited, KEYS["open"])
    assert unlimited.status_code == 200 and "x-ratelimit-limit-requests" not in unlimited.headers


def test_vendor_passthrough_spends_the_same_budget_and_tokens(limited: GatewayProcess) -> None:
    """/vendors/... is admitted by the caller's limits, and its answers count against them like any call."""
    body = {"model": "gpt-fake", "messages": BODY["messages"]}
    probe = call(limited, KEYS["open"]).json()["usage"]
    tokens = probe["prompt_tokens"] + probe["completion_tokens"]
    cost = (probe["prompt_tokens"] * 3.0 + probe["completion_tokens"] * 15.0) / 1e6
    wait_fresh_window(10)
    budget_key, _ = new_key(limited.base_url, limited.admin_key, monthly_budget_usd=cost * 1.5)
    tpm_key, _ = new_key(limited.base_url, limited.admin_key, tpm=int(tokens * 1.5))
    for key, code in ((budget_key, "BUDGET_EXCEEDED"), (tpm_key, "RATE_LIMITED")):
        statuses = []
        with limited.http() as http:
            for _ in range(3):
                resp = http.post(
                    "/vendors/fakeai/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
                )
                statuses.append((resp.status_code, resp.headers.get("x-error-code")))
                time.sleep(0.25)  # settling runs after the response has gone
        assert statuses == [(200, None), (200, None), (429, code)]  # admitted while under 1.5 calls' worth


def test_end_user_limits_count_each_end_user_of_a_key_exactly(limited: GatewayProcess) -> None:
    """A plan's `end_user_limits`: ten concurrent calls for one end user admit exactly its two; other
    end users, and calls naming none, are not held by it."""
    key, _ = new_key(limited.base_url, limited.admin_key, end_user_limits={"rpm": 2})
    wait_fresh_window(10)
    alice = burst(limited.base_url, key, 10, {**BODY, "user": "alice"})
    assert alice.count(200) == 2 and alice.count(429) == 8 and set(alice.codes) == {None, "RATE_LIMITED"}
    refused = next(r for r in alice.responses if r.status_code == 429)
    assert "for end user 'alice'" in refused.json()["error"]["message"]
    assert refused.headers["x-ratelimit-limit-requests"] == "2"
    with limited.http(headers={"Authorization": f"Bearer {key}", "x-polyroute-end-user": "bob"}) as http:
        bob = [http.post("/v1/chat/completions", json={**BODY, "user": "alice"}).status_code for _ in range(3)]
    assert bob == [200, 200, 429]  # the header names the end user, over the body's `user`
    assert [call(limited, key).status_code for _ in range(3)] == [200, 200, 200]  # no end user named


def test_a_key_overrides_its_plans_end_user_limits_field_by_field(limited: GatewayProcess) -> None:
    """`limits.end_user_limits` on a key: its rpm of 1 over the plan's 3, the plan's daily cap kept; a
    key with no override gets the plan's."""
    plan_key, key_id = new_key(limited.base_url, limited.admin_key, end_user_limits={"rpm": 3, "daily_requests": 50})
    with limited.admin() as admin:
        plan = admin.get(f"/v1/api-keys/{key_id}").json()["plan"]
        made = admin.post(
            "/v1/api-keys", json={"name": "tight", "plan": plan, "limits": {"end_user_limits": {"rpm": 1}}}
        )
        assert made.status_code == 201, made.text
        assert made.json()["limits"]["end_user_limits"] == {"rpm": 1}
    tight = made.json()["key"]
    wait_fresh_window(10)
    assert burst(limited.base_url, tight, 4, {**BODY, "user": "carol"}).count(200) == 1
    assert burst(limited.base_url, plan_key, 5, {**BODY, "user": "carol"}).count(200) == 3
    refused = burst(limited.base_url, tight, 1, {**BODY, "user": "carol"}).responses[0]
    assert refused.status_code == 429 and refused.headers["x-ratelimit-limit-requests"] == "1"


def test_a_users_keys_share_the_plans_user_limits_exactly(limited: GatewayProcess) -> None:
    """A plan's `user_limits`: thirty concurrent calls over the three keys a user made admit exactly the
    user's five; a key of another user on the plan has its own five."""
    plan = f"shared-{secrets.token_hex(3)}"
    with limited.admin() as admin:
        made = admin.post("/v1/plans", json={"name": plan, "models": ["*"], "user_limits": {"daily_requests": 5}})
        assert made.status_code == 201 and made.json()["user_limits"] == {"daily_requests": 5}
        owners = []
        for name in ("u-one", "u-two"):
            user = {"username": f"{name}-{secrets.token_hex(3)}", "password": "pw-" + secrets.token_hex(8)}
            assert admin.post("/v1/users", json={**user, "role": "user", "plan": plan}).status_code == 201
            owners.append(user)
    keys: list[list[str]] = []
    for owner in owners:
        with limited.http() as http:
            token = http.post("/v1/auth/token", json=owner).json()["access_token"]
            made_keys = [
                http.post("/v1/api-keys", json={"name": f"k{i}"}, headers={"Authorization": f"Bearer {token}"})
                for i in range(3)
            ]
        keys.append([k.json()["key"] for k in made_keys])
    time.sleep(1.2)  # the catalog poll brings the new keys to every worker

    async def spread(secrets_: list[str], n: int) -> list[int]:
        async with httpx.AsyncClient(base_url=limited.base_url, timeout=30) as client:
            calls = [
                client.post("/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {secrets_[i % 3]}"})
                for i in range(n)
            ]
            return [r.status_code for r in await asyncio.gather(*calls)]

    statuses = run_async(spread(keys[0], 30))
    assert statuses.count(200) == 5 and statuses.count(429) == 25
    refused = call(limited, keys[0][2])
    assert "5 requests per UTC day for this user's keys together" in refused.json()["error"]["message"]
    assert refused.headers["x-error-code"] == "DAILY_REQUEST_LIMIT_EXCEEDED"
    assert run_async(spread(keys[1], 6)).count(200) == 5


def test_a_teams_keys_share_its_limits_and_models_exactly(limited: GatewayProcess) -> None:
    """Thirty concurrent calls over three keys of a team (two plans, two makers) under the team's
    `daily_requests: 5` admit exactly five; a key outside the team is not held; the team's models narrow
    its keys' plans; usage reads by team."""
    team = f"t-{secrets.token_hex(3)}"
    with limited.admin() as admin:
        made = admin.post("/v1/teams", json={"name": team, "plan": "open", "limits": {"daily_requests": 5}})
        assert made.status_code == 201, made.text
        keys = [admin.post("/v1/api-keys", json={"name": f"{team}-{i}", "team": team}) for i in range(2)]
        keys.append(admin.post("/v1/api-keys", json={"name": f"{team}-day50", "team": team, "plan": "day50"}))
        assert all(k.status_code == 201 for k in keys), [k.text for k in keys]
    secrets_ = [k.json()["key"] for k in keys]
    time.sleep(1.2)  # the catalog poll brings the new keys to every worker

    async def spread(n: int) -> list[int]:
        async with httpx.AsyncClient(base_url=limited.base_url, timeout=30) as client:
            headers = [{"Authorization": f"Bearer {secrets_[i % 3]}"} for i in range(n)]
            calls = [client.post("/v1/chat/completions", json=BODY, headers=h) for h in headers]
            return [r.status_code for r in await asyncio.gather(*calls)]

    statuses = run_async(spread(30))
    assert statuses.count(200) == 5 and statuses.count(429) == 25
    refused = call(limited, secrets_[2])
    assert f"5 requests per UTC day for team '{team}'" in refused.json()["error"]["message"]
    assert call(limited, KEYS["open"]).status_code == 200

    # The config file's team: its key took the team's plan, and the team's models hold it.
    assert call(limited, TEAM_KEY).status_code == 200
    narrowed = call(limited, TEAM_KEY, {**BODY, "model": "route/fallback"})
    assert narrowed.status_code == 403 and "team 'cfg-team'" in narrowed.json()["error"]["message"]
    listed = {m.id for m in limited.openai(key=TEAM_KEY).models.list()}
    assert "fakeai/gpt-fake" in listed and "route/fallback" not in listed  # /v1/models says the same

    def by_team(**params: str) -> dict[str | None, int]:
        with limited.admin() as admin:
            rows = admin.get("/v1/usage", params={"group_by": "team", "from": "2000-01-01", **params}).json()["data"]
        return {r["team"]: r["requests"] for r in rows}

    wait_until(lambda: by_team().get(team) == 31 and by_team(status="success").get("cfg-team", 0) >= 1)
    assert by_team(status="success")[team] == 5
    with limited.admin() as admin:
        only = admin.get("/v1/usage", params={"team": team, "group_by": "key,status"}).json()["data"]
        log = admin.get("/v1/requests", params={"team": team, "limit": 100}).json()["data"]
    assert {r["key_id"] for r in only} == {k.json()["id"] for k in keys} and {r["status"] for r in only} == {200, 429}
    assert len(log) == 31 and [r["status"] for r in log].count(200) == 5
