"""Provider budgets through a real server: once a provider account's day is spent, routes fall back to
their other targets, a route with no other target answers 429 until the day ends, and the health
endpoint shows the spend. On every counter backend a replica set would share."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.db_backends import database_url
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY, GatewayProcess, start_gateway
from tests.integration.tasks.conftest import wait_for
from tests.integration.usage.conftest import COUNTER_BACKENDS
from tests.integration.usage.redis_server import shared_redis_url

PRICE = 1000.0
CAPPED = f"capped-{secrets.token_hex(3)}"
"""Unique per run: a shared Redis keeps the provider's spend counters between runs."""
HI = [{"role": "user", "content": "hi"}]


def _cost(fake: FakeOpenAI) -> float:
    """What one `hi` costs at PRICE: the fake's own token count for it."""
    usage = fake._usage({"messages": HI}, "Hello from gpt-fake. You said: hi")
    return (usage["prompt_tokens"] + usage["completion_tokens"]) * PRICE / 1e6


@pytest.fixture(scope="module", params=COUNTER_BACKENDS)
def budgeted(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
    fake_backup: FakeOpenAI,
) -> Iterator[GatewayProcess]:
    kind = str(request.param)
    priced = {"id": "gpt-fake", "input_cost_per_mtok": PRICE, "output_cost_per_mtok": PRICE}
    config: dict[str, Any] = {
        "providers": [
            {
                "name": CAPPED,
                "kind": "openai",
                "base_url": fake_openai.base_url + "/v1",
                "daily_budget_usd": round(_cost(fake_openai) * 1.5, 6),
                "models": [priced],
            },
            {
                "name": "spare",
                "kind": "openai-compatible",
                "base_url": fake_backup.base_url + "/v1",
                "models": [{"id": "gpt-fake"}],
            },
        ],
        "routes": [
            {
                "name": "route/budgeted",
                "targets": [
                    {"provider": CAPPED, "model": "gpt-fake"},
                    {"provider": "spare", "model": "gpt-fake", "priority": 1},
                ],
            },
            {"name": "route/only-capped", "targets": [{"provider": CAPPED, "model": "gpt-fake"}]},
        ],
        "plans": [{"name": "internal", "models": ["*"]}],
        "api_keys": [{"name": "test", "key": API_KEY, "plan": "internal"}],
    }
    env = {"POLYROUTE_LIMITS_BACKEND": kind}
    if kind == "redis":
        env["POLYROUTE_REDIS_URL"] = shared_redis_url()
    tmp = Path(tmp_path_factory.mktemp(f"budgets-{kind}"))
    with database_url("postgres" if kind == "postgres" else "sqlite", tmp) as url:
        gw = start_gateway(tmp, config, env=env, database_url=url)
        yield gw
        gw.stop()


def _served_by(gw: GatewayProcess, model: str = "route/budgeted") -> httpx.Response:
    with gw.http(headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        return http.post("/v1/chat/completions", json={"model": model, "messages": HI})


def test_a_spent_provider_is_skipped_until_its_day_ends(budgeted: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    cost = _cost(fake_openai)
    served: list[str] = []

    def ask() -> str:
        served.append(_served_by(budgeted).headers["x-polyroute-provider"])
        return served[-1]

    assert [ask(), ask()] == [CAPPED, CAPPED]
    # the spend is read back within a second: calls in that second may still reach it
    wait_for(lambda: ask() == "spare", what="the fallback")
    assert {ask() for _ in range(3)} == {"spare"}
    refused = _served_by(budgeted, "route/only-capped")
    assert refused.status_code == 429 and refused.headers["x-error-code"] == "BUDGET_EXCEEDED"
    assert f"over its budget ({CAPPED})" in refused.json()["error"]["message"]
    assert 0 < int(refused.headers["retry-after"]) <= 86400
    health = {p["name"]: p for p in budgeted.admin().get("/v1/health/providers").json()["data"]}
    budget = health[CAPPED]["budget"]
    assert budget["over"] is True and budget["daily_usd"] == round(cost * 1.5, 6) and budget["monthly_usd"] is None
    assert budget["spent_today_usd"] == pytest.approx(served.count(CAPPED) * cost), "every capped call counted"
    assert health["spare"]["budget"] is None
