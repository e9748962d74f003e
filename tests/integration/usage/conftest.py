"""Gateways for the usage and limits suites, one per counter backend or storage backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.db_backends import database_url
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess, start_gateway
from tests.integration.usage.harness import usage_config
from tests.integration.usage.redis_server import shared_redis_url

COUNTER_BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="module", params=COUNTER_BACKENDS)
def limited(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI
) -> Iterator[GatewayProcess]:
    """A gateway whose counters live in the backend under test (Postgres counters need a Postgres database)."""
    kind = str(request.param)
    env = {"POLYROUTE_LIMITS_BACKEND": kind}
    if kind == "redis":
        env["POLYROUTE_REDIS_URL"] = shared_redis_url()
    tmp = tmp_path_factory.mktemp(f"limits-{kind}")
    with database_url("postgres" if kind == "postgres" else "sqlite", tmp) as url:
        gw = start_gateway(tmp, usage_config(fake_openai), env=env, database_url=url)
        yield gw
        gw.stop()
