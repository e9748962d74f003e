"""Each built-in strategy chosen in the config file, through the real server and two fake upstreams."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.db_backends import gateway_on
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY, GatewayProcess

pytestmark = pytest.mark.usefixtures("fakes_reset")

FREE_KEY = "sk-free-key-0123456789"
LOCKED_KEY = "sk-locked-key-0123456789"
UNLOCKED_KEY = "sk-unlocked-key-0123456789"


@pytest.fixture(scope="module")
def strategic(
    backend: str, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> Iterator[GatewayProcess]:
    def provider(name: str, fake: FakeOpenAI, models: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "name": name,
            "kind": "openai",
            "base_url": fake.base_url + "/v1",
            "api_key": f"sk-{name}",
            "timeout_s": 5,
            "probe_interval_s": 0,
            "models": models,
        }

    config = {
        "providers": [
            provider(
                "primary",
                fake_openai,
                [
                    {"id": "gpt-fake", "input_cost_per_mtok": 10, "output_cost_per_mtok": 30},
                    {
                        "id": "tiny-fake",
                        "input_cost_per_mtok": 0.01,
                        "output_cost_per_mtok": 0.01,
                        "context_window": 60,
                    },
                    {"id": "fake-slow-400"},
                ],
            ),
            provider(
                "backup", fake_backup, [{"id": "gpt-fake", "input_cost_per_mtok": 0.1, "output_cost_per_mtok": 0.2}]
            ),
        ],
        "routes": [
            {
                "name": "route/cheapest",
                "strategy": "cost-based",
                "targets": [
                    {"provider": "primary", "model": "gpt-fake", "priority": 0},
                    {"provider": "backup", "model": "gpt-fake", "priority": 1},
                    {"provider": "primary", "model": "tiny-fake", "priority": 2},
                ],
            },
            {
                "name": "route/gated",
                "strategy": "plan-gated",
                "targets": [
                    {"provider": "primary", "model": "gpt-fake", "priority": 0},
                    {"provider": "backup", "model": "gpt-fake", "priority": 1},
                ],
            },
            {
                "name": "route/fast",
                "strategy": "latency-weighted",
                "targets": [
                    {"provider": "primary", "model": "fake-slow-400", "priority": 0},
                    {"provider": "backup", "model": "gpt-fake", "priority": 1},
                ],
            },
        ],
        "plans": [
            {"name": "free", "models": ["route/*"], "targets": ["backup/*"]},
            {"name": "locked", "models": ["route/*"], "targets": ["elsewhere/*"]},
        ],
        "api_keys": [
            {"name": "k", "key": API_KEY},
            {"name": "free", "key": FREE_KEY, "plan": "free"},
            {"name": "locked", "key": LOCKED_KEY, "plan": "locked"},
            # The key's own target globs replace its plan's: a locked-plan key let onto the primary.
            {"name": "unlocked", "key": UNLOCKED_KEY, "plan": "locked", "limits": {"targets": ["primary/*"]}},
        ],
    }
    with gateway_on(backend, tmp_path_factory.mktemp("strategic"), config) as gw:
        yield gw


def _chat(gw: GatewayProcess, model: str, text: str = "hello", key: str = API_KEY, **extra: Any) -> httpx.Response:
    with httpx.Client(base_url=gw.base_url, timeout=30) as http:
        return http.post(
            "/v1/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": text}], **extra},
            headers={"Authorization": f"Bearer {key}", "x-polyroute-explain": "1"},
        )


def test_cost_based_picks_the_cheapest_target_the_request_fits(strategic: GatewayProcess) -> None:
    short = _chat(strategic, "route/cheapest", max_tokens=10)
    assert short.status_code == 200, short.text
    assert short.json()["model"] == "primary/tiny-fake"  # cheapest, and a short prompt fits its 60 tokens
    assert short.json()["polyroute_explain"]["strategy"] == "cost-based"
    long = _chat(strategic, "route/cheapest", text="word " * 400, max_tokens=10)
    assert long.status_code == 200, long.text
    assert long.json()["model"] == "backup/gpt-fake"  # tiny-fake cannot hold it; backup is cheaper than primary


def test_plan_gated_keeps_each_plan_on_its_targets(
    strategic: GatewayProcess, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> None:
    unrestricted = _chat(strategic, "route/gated")
    assert unrestricted.status_code == 200 and unrestricted.json()["model"] == "primary/gpt-fake"
    seen_by_primary = len(fake_openai.requests_for("/chat/completions"))
    for _ in range(3):
        free = _chat(strategic, "route/gated", key=FREE_KEY)
        assert free.status_code == 200 and free.json()["model"] == "backup/gpt-fake"
    assert len(fake_openai.requests_for("/chat/completions")) == seen_by_primary  # never a premium target
    assert len(fake_backup.requests_for("/chat/completions")) == 3
    locked = _chat(strategic, "route/gated", key=LOCKED_KEY)
    assert locked.status_code == 403 and locked.headers["x-error-code"] == "MODEL_NOT_ALLOWED"
    assert locked.json()["error"]["code"] == "MODEL_NOT_ALLOWED"
    unlocked = _chat(strategic, "route/gated", key=UNLOCKED_KEY)  # same plan, its own override
    assert unlocked.status_code == 200 and unlocked.json()["model"] == "primary/gpt-fake"


def test_latency_weighted_moves_traffic_to_the_fast_target(strategic: GatewayProcess) -> None:
    answered = [_chat(strategic, "route/fast").json()["model"] for _ in range(14)]
    late = Counter(answered[6:])  # after both targets have samples: 400 ms against a few ms
    assert late["backup/gpt-fake"] >= 6, answered
