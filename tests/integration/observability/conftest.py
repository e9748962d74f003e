"""A small catalog for the observability tests: one model, two fallback routes, a rate-limited plan."""

from __future__ import annotations

from typing import Any

from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import free_port
from tests.gateway_process import API_KEY

TIGHT_KEY = "sk-poly-tight-0123456789abcdefghij"


def observed_config(primary: FakeOpenAI, backup: FakeOpenAI, upstream_key: str = "sk-upstream-obs") -> dict[str, Any]:
    def provider(name: str, base_url: str, models: list[str]) -> dict[str, Any]:
        return {
            "name": name,
            "kind": "openai",
            "base_url": base_url,
            "api_key": upstream_key,
            "timeout_s": 3,
            "probe_interval_s": 0,
            "models": [{"id": m, "input_cost_per_mtok": 1.0, "output_cost_per_mtok": 2.0} for m in models],
        }

    def route(name: str, first: str, first_model: str) -> dict[str, Any]:
        return {
            "name": name,
            "params": {"retries": 0},
            "targets": [
                {"provider": first, "model": first_model, "priority": 0},
                {"provider": "backup", "model": "gpt-fake", "priority": 1},
            ],
        }

    return {
        "providers": [
            provider("fakeai", primary.base_url + "/v1", ["gpt-fake", "fake-500", "fake-401"]),
            provider("backup", backup.base_url + "/v1", ["gpt-fake"]),
            provider("dead", f"http://127.0.0.1:{free_port()}/v1", ["gpt-fake"]),
        ],
        "routes": [route("route/fallback", "fakeai", "fake-500"), route("route/dead-first", "dead", "gpt-fake")],
        "plans": [{"name": "internal", "models": ["*"]}, {"name": "tight", "rpm": 1, "models": ["*"]}],
        "api_keys": [
            {"name": "test", "key": API_KEY, "plan": "internal"},
            {"name": "tight", "key": TIGHT_KEY, "plan": "tight"},
        ],
    }
