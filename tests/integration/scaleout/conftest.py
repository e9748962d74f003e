"""Two gateway replicas on one Postgres database and (optionally) one Redis, and the load that spreads over them.

Each replica is a real `polyroute serve` process with its own data directory (its own usage journal
and nothing else), started at the same moment as the other, as a Deployment rolling out two pods
would. They share only what production replicas share: the database URL, the Redis URL and
POLYROUTE_SECRET_KEY. Postgres and Redis skip with a message locally and are mandatory under CI=true.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis
from cryptography.fernet import Fernet

from tests.db_backends import database_url
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess, start_gateway
from tests.integration.usage.harness import PRICE, fetch, run_async, usage_config
from tests.integration.usage.redis_server import shared_redis_url, worker_redis_db

__all__ = [
    "SECRET_KEY",
    "Replicas",
    "Sent",
    "forget_counters",
    "scaleout_config",
    "spread",
    "start_replicas",
    "usage_ids",
]

SECRET_KEY = Fernet.generate_key().decode()
"""The one thing every replica must be given alike (it encrypts provider credentials, signs tokens)."""

REDIS_DB = 9
"""The shared Redis's database index for this package; only counters of keys made here are deleted."""


def scaleout_config(fake: FakeOpenAI) -> dict[str, Any]:
    """The usage suite's config plus `compat`: a chat-only upstream, so Responses calls are
    translated, and stored, by the gateway itself."""
    config = usage_config(fake)
    models = [{"id": m, **PRICE} for m in ("gpt-fake", "fake-slow-200")]
    config["providers"].append(
        {"name": "compat", "kind": "openai-compatible", "base_url": fake.base_url + "/v1", "models": models}
    )
    return config


@dataclass
class Replicas:
    """Replica A and replica B; `a` is the one the management calls go to, unless a test says otherwise."""

    a: GatewayProcess
    b: GatewayProcess
    database_url: str
    redis_url: str | None

    @property
    def both(self) -> tuple[GatewayProcess, GatewayProcess]:
        return (self.a, self.b)

    def stop(self) -> None:
        for gw in self.both:
            gw.stop()


def start_replicas(
    tmp: Path,
    config: dict[str, Any],
    *,
    database_url: str,
    redis_url: str | None = None,
    env: dict[str, str] | None = None,
    env_b: dict[str, str] | None = None,
) -> Replicas:
    """Start A and B at once (both migrate and apply `config` concurrently); each gets its own data dir."""
    common = {"POLYROUTE_SECRET_KEY": SECRET_KEY, "POLYROUTE_CATALOG_POLL_S": "1.0", **(env or {})}
    if redis_url is not None:
        common["POLYROUTE_REDIS_URL"] = redis_url
    envs = {"a": common, "b": {**common, **(env_b or {})}}
    started: dict[str, GatewayProcess] = {}
    errors: list[BaseException] = []

    def start(name: str) -> None:
        try:
            started[name] = start_gateway(tmp / name, config, env=envs[name], database_url=database_url)
        except BaseException as exc:  # reported below, after both threads are done
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors or len(started) != 2:
        for gw in started.values():
            gw.stop()
        raise RuntimeError(f"a replica did not start: {errors}")
    return Replicas(started["a"], started["b"], database_url, redis_url)


@dataclass(frozen=True)
class Sent:
    """One request and what came back: which replica (0 = A, 1 = B), status, error code, request id."""

    replica: int
    status: int
    code: str | None
    request_id: str | None


def spread(
    replicas: Replicas, key: str, n: int, body: dict[str, Any], path: str = "/v1/chat/completions"
) -> list[Sent]:
    """`n` calls at once, alternating A, B, A, B, ...; every response read to the end."""

    async def main() -> list[Sent]:
        limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
        headers = {"Authorization": f"Bearer {key}"}
        clients = [httpx.AsyncClient(base_url=gw.base_url, timeout=30, limits=limits) for gw in replicas.both]
        try:
            # Connections open first, on both replicas, so the burst itself reaches both at once.
            await asyncio.gather(*(clients[i % 2].get("/healthz") for i in range(n)))

            async def one(i: int) -> Sent:
                resp = await clients[i % 2].post(path, json=body, headers=headers)
                return Sent(i % 2, resp.status_code, resp.headers.get("x-error-code"), resp.headers.get("x-request-id"))

            return list(await asyncio.gather(*(one(i) for i in range(n))))
        finally:
            for client in clients:
                await client.aclose()

    return run_async(main())


def usage_ids(url: str, ids: list[str]) -> list[str]:
    """Which of `ids` have a usage_event row (each row's primary key is its request id)."""
    rows = fetch(url, "SELECT id FROM usage_event WHERE id = ANY(?::text[])", ids)
    return [r["id"] for r in rows]


def forget_counters(redis_url: str, database_url: str) -> None:
    """Delete the Redis counters of every key in this test's database, and nothing else."""
    key_ids = [r["id"] for r in fetch(database_url, "SELECT id FROM api_key")]
    client = redis.Redis.from_url(redis_url)
    try:
        for key_id in key_ids:
            found = list(client.scan_iter(match=f"polyroute:limits:*:{key_id}:*", count=500))
            if found:
                client.delete(*found)
    finally:
        client.close()


@pytest.fixture(scope="module")
def scaleout_redis_url() -> str:
    """The shared Redis (mandatory under CI=true), on this package's database index."""
    parts = urlsplit(shared_redis_url())
    return urlunsplit(parts._replace(path=f"/{worker_redis_db(REDIS_DB)}"))


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty Postgres database for one test (mandatory under CI=true)."""
    with database_url("postgres", tmp_path / "db") as url:
        yield url


@pytest.fixture(scope="module")
def spare() -> Iterator[FakeOpenAI]:
    """A fake upstream of this module's own, so its request log counts only this module's traffic."""
    server = FakeOpenAI()
    server.start()
    yield server
    server.stop()


def wait_for(check: Any, timeout: float, what: str, interval: float = 0.02) -> float:
    """Poll `check` until true; returns the seconds it took (fails the test after `timeout`)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what}: not within {timeout}s")
        time.sleep(interval)
    return time.monotonic() - started


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"
