"""Deployment rpm/tpm through the real server: a target at its quota is skipped for the rest of the minute
(the route falls back), and a model with nothing else left answers 429 with Retry-After."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.db_backends import gateway_on
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY, GatewayProcess
from tests.integration.usage.harness import wait_fresh_window

pytestmark = pytest.mark.usefixtures("fakes_reset")

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> Iterator[GatewayProcess]:
    def provider(name: str, fake: FakeOpenAI, **quota: Any) -> dict[str, Any]:
        model = {"id": "gpt-fake", **quota}
        return {"name": name, "kind": "openai", "base_url": fake.base_url + "/v1", "models": [model]}

    config = {
        "providers": [
            provider("east", fake_openai, rpm=2),
            provider("west", fake_backup),
            provider("thin", fake_openai, tpm=5),
        ],
        "routes": [
            {
                "name": "route/quota",
                "targets": [
                    {"provider": "east", "model": "gpt-fake", "priority": 0},
                    {"provider": "west", "model": "gpt-fake", "priority": 1},
                ],
            }
        ],
        "api_keys": [{"name": "test", "key": API_KEY}],
    }
    with gateway_on("sqlite", tmp_path_factory.mktemp("quotas"), config) as gateway:
        yield gateway


def _served_by(gw: GatewayProcess, model: str) -> str:
    raw = gw.openai().chat.completions.with_raw_response.create(model=model, messages=HI)  # type: ignore[arg-type]
    return str(raw.headers["x-polyroute-provider"])


def test_a_deployment_at_its_rpm_gives_way_to_the_next_until_the_minute_ends(gw: GatewayProcess) -> None:
    wait_fresh_window(20)
    assert [_served_by(gw, "route/quota") for _ in range(2)] == ["east", "east"]
    time.sleep(2.0)  # the router's view of the counters is refreshed every second
    assert [_served_by(gw, "route/quota") for _ in range(3)] == ["west", "west", "west"]
    with pytest.raises(openai.RateLimitError) as refused:
        gw.openai().chat.completions.create(model="east/gpt-fake", messages=HI)  # type: ignore[arg-type]
    response = refused.value.response
    assert response.headers["x-error-code"] == "RATE_LIMITED"
    assert 0 < int(response.headers["retry-after"]) <= 60
    assert "east/gpt-fake" in refused.value.message
    with gw.admin() as admin:
        providers = {p["name"]: p for p in admin.get("/v1/health/providers").json()["data"]}
    quota = providers["east"]["models"][0]["quota"]
    assert (quota["rpm"], quota["calls"], quota["skipped"]) == (2, 2, True)
    assert providers["west"]["models"][0]["quota"] is None


def test_a_deployment_past_its_tpm_is_skipped_too(gw: GatewayProcess) -> None:
    wait_fresh_window(20)
    assert _served_by(gw, "thin/gpt-fake") == "thin"  # one call passes 5 tokens
    time.sleep(2.0)
    with pytest.raises(openai.RateLimitError):
        gw.openai().chat.completions.create(model="thin/gpt-fake", messages=HI)  # type: ignore[arg-type]
