"""A gateway per response-cache backend (in process, Redis DB 9), with cached routes over the fakes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import dialect_providers
from tests.db_backends import gateway_on
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY, GatewayProcess
from tests.integration.usage.redis_server import shared_redis_url, worker_redis_db

OTHER_KEY = "sk-poly-cache-other-0123456789abcdef"
OPTED_IN_KEY = "sk-poly-cache-optin-0123456789abcdef"
NO_CACHE_PLAN_KEY = "sk-poly-cache-noplan-0123456789abcde"
LIMITED_KEY = "sk-poly-cache-rpm-0123456789abcdefgh"
CACHE_DB = 9
"""Base database index on the shared Redis; each xdist worker adds its number (`worker_redis_db`)."""
PRICED = {"input_cost_per_mtok": 1.0, "output_cost_per_mtok": 2.0, "context_window": 128000}


def _route(name: str, provider: str, model: str, **params: Any) -> dict[str, Any]:
    return {"name": name, "targets": [{"provider": provider, "model": model}], "params": params}


def cache_config(openai: FakeOpenAI, anthropic: FakeAnthropic) -> dict[str, Any]:
    models = ["gpt-fake", "text-embedding-fake", "fake-500", "fake-cut", "fake-chunks-8"]
    cached = {"cache": True, "cache_ttl_s": 60, "retries": 0}
    return {
        "providers": [
            {
                "name": "fakeai",
                "kind": "openai",
                "base_url": openai.base_url + "/v1",
                "api_key": "sk-upstream-cache",
                "timeout_s": 3,
                "models": [{"id": m, **PRICED} for m in models],
            },
            *dialect_providers(anthropic, None),
            {
                "name": "compat",
                "kind": "openai-compatible",
                "base_url": openai.base_url + "/v1",
                "api_key": "sk-upstream-cache",
                "timeout_s": 3,
                "models": [{"id": "rerank-fake", **PRICED}],
            },
        ],
        "routes": [
            _route("route/rerank", "compat", "rerank-fake", **cached),
            _route("route/cached", "fakeai", "gpt-fake", **cached),
            _route("route/chunky", "fakeai", "fake-chunks-8", **cached),
            _route("route/short", "fakeai", "gpt-fake", **{**cached, "cache_ttl_s": 1}),
            _route("route/shared", "fakeai", "gpt-fake", **cached, cache_shared=True),
            _route("route/any", "fakeai", "gpt-fake", **cached, cache_nondeterministic=True),
            _route("route/broken", "fakeai", "fake-500", **cached),
            _route("route/cut", "fakeai", "fake-cut", **{**cached, "mid_stream_recovery": False}),
            _route("route/claude", "claude", "claude-fake", **cached),
            _route("route/embed", "fakeai", "text-embedding-fake", **cached),
            _route("route/plain", "fakeai", "gpt-fake", retries=0),
        ],
        "plans": [
            {"name": "internal", "models": ["*"]},
            {"name": "nocache", "models": ["*"], "cache": False},
            {"name": "rpm3", "models": ["*"], "rpm": 3},
        ],
        "api_keys": [
            {"name": "test", "key": API_KEY, "plan": "internal"},
            {"name": "other", "key": OTHER_KEY, "plan": "internal"},
            {"name": "opted-in", "key": OPTED_IN_KEY, "plan": "internal", "metadata": {"cache": True}},
            {"name": "no-cache-plan", "key": NO_CACHE_PLAN_KEY, "plan": "nocache"},
            {"name": "limited", "key": LIMITED_KEY, "plan": "rpm3"},
        ],
    }


def _flush_cache_keys(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match="polyroute:cache:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


CACHE_BACKENDS = [
    pytest.param(("memory", "sqlite"), id="memory-sqlite"),
    pytest.param(("redis", "postgres"), id="redis-postgres", marks=[pytest.mark.redis, pytest.mark.postgres]),
]
"""Each cache backend on one database, so every cache test runs on both caches and both databases
with two gateways rather than four (the cache's behaviour does not depend on the database; the
request log that records hits does, and is read through /v1/requests on each)."""


@pytest.fixture(scope="module", params=CACHE_BACKENDS)
def cached(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
) -> Iterator[GatewayProcess]:
    """The gateway with the cache backend under test; Redis is DB 9 of the shared server, limits stay in process."""
    kind, backend = request.param
    env = {"POLYROUTE_CACHE_BACKEND": kind, "POLYROUTE_LIMITS_BACKEND": "memory"}
    redis_url = None
    if kind == "redis":
        redis_url = shared_redis_url().rsplit("/", 1)[0] + f"/{worker_redis_db(CACHE_DB)}"
        env["POLYROUTE_REDIS_URL"] = redis_url
        _flush_cache_keys(redis_url)
    tmp = tmp_path_factory.mktemp(f"cache-{kind}")
    try:
        with gateway_on(backend, tmp, cache_config(fake_openai, fake_anthropic), env=env) as gw:
            yield gw
    finally:
        if redis_url is not None:
            with contextlib.suppress(Exception):
                _flush_cache_keys(redis_url)
