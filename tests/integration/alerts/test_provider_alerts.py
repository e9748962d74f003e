"""Provider alerts through a real server: a target whose breaker stays open raises `provider.down`
once, and `provider.up` once it answers again (the probe and one good call close the breaker)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from app.tasks.webhooks import verify
from tests.db_backends import gateway_on
from tests.fakes.openai import FakeOpenAI
from tests.fakes.webhooks import WebhookReceiver
from tests.gateway_process import API_KEY, GatewayProcess
from tests.integration.tasks.conftest import wait_for

SECRET = "whsec-provider-alerts-0123456789"


@pytest.fixture(scope="module")
def flaky() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def watched(
    tmp_path_factory: pytest.TempPathFactory, flaky: FakeOpenAI, receiver: WebhookReceiver
) -> Iterator[GatewayProcess]:
    config = {
        "providers": [
            {
                "name": "flaky",
                "kind": "openai",
                "base_url": flaky.base_url + "/v1",
                "probe_interval_s": 0.5,
                "models": [{"id": "gpt-fake"}],
            }
        ],
        "routes": [
            {"name": "route/flaky", "targets": [{"provider": "flaky", "model": "gpt-fake"}], "params": {"retries": 0}}
        ],
        "plans": [{"name": "internal", "models": ["*"]}],
        "api_keys": [{"name": "test", "key": API_KEY, "plan": "internal"}],
    }
    env = {
        "POLYROUTE_ALERT_WEBHOOK_URL": f"{receiver.base_url}/hook/providers",
        "POLYROUTE_ALERT_INTERVAL_S": "0.2",
        "POLYROUTE_ALERT_OUTAGE_AFTER_S": "0.5",
        "POLYROUTE_WEBHOOK_SECRET": SECRET,
    }
    with gateway_on("sqlite", Path(tmp_path_factory.mktemp("provider-alerts")), config, env=env) as gw:
        yield gw


def _sent(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.received if r.path == "/hook/providers"]


def test_an_outage_that_lasts_is_raised_once_and_its_end_too(
    watched: GatewayProcess, flaky: FakeOpenAI, receiver: WebhookReceiver
) -> None:
    client = watched.openai()
    flaky.script("gpt-fake", *({"status": 500} for _ in range(3)))
    for _ in range(3):
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="route/flaky", messages=[{"role": "user", "content": "hi"}])
    wait_for(lambda: [a["type"] for a in _sent(receiver)] == ["provider.down"], what="the down alert")
    [down] = _sent(receiver)
    assert (down["provider"], down["model"], down["breaker"] in ("open", "half-open")) == ("flaky", "gpt-fake", True)
    assert down["consecutive_failures"] >= 3 and "routes fall back" in down["message"]
    delivery = receiver.received[-1]
    assert verify(SECRET.encode(), delivery.headers["X-Polyroute-Signature"], delivery.body)

    # The provider answers again: the probe lets one trial through, and a good call closes the breaker.
    def recovered() -> bool:
        try:
            client.chat.completions.create(model="route/flaky", messages=[{"role": "user", "content": "again"}])
        except openai.APIStatusError:
            return False
        return True

    wait_for(recovered, timeout=15, what="a call served again")
    wait_for(lambda: [a["type"] for a in _sent(receiver)] == ["provider.down", "provider.up"], what="the up alert")
    time.sleep(1.0)
    assert [a["type"] for a in _sent(receiver)] == ["provider.down", "provider.up"], "each raised once"
    listed = watched.admin().get("/v1/alerts", params={"type": "provider.down"}).json()["data"]
    assert [(a["provider"], a["delivery"]["status"], a["key"]) for a in listed] == [("flaky", "delivered", None)]
