"""Helpers for the usage and limits suites: a priced config, bursts of concurrent calls, rows in the database."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import FakeServer

__all__ = [
    "KEYS",
    "PRICE",
    "Burst",
    "burst",
    "execute",
    "fetch",
    "new_key",
    "run_async",
    "usage_config",
    "wait_fresh_window",
    "wait_until",
]

T = TypeVar("T")

PRICE = {"input_cost_per_mtok": 3.0, "output_cost_per_mtok": 15.0, "cached_input_cost_per_mtok": 0.3}
"""USD per million tokens for every fake model here."""

KEYS = {
    "open": "sk-poly-usage-open-0123456789abcdef",
    "day50": "sk-poly-usage-day50-0123456789abcd",
    "rpm30": "sk-poly-usage-rpm30-0123456789abcd",
    "tpm": "sk-poly-usage-tpm-0123456789abcdefg",
    "budget": "sk-poly-usage-budget-0123456789abc",
    "day3": "sk-poly-usage-day3-0123456789abcde",
    "other": "sk-poly-usage-other-0123456789abcd",
}
"""Fixed inference keys from the config file, by plan."""
TEAM_KEY = "sk-poly-usage-team-0123456789abcdef"
"""A config-file key in the config file's team `cfg-team` (plan `open` from the team, `fakeai/gpt-fake` only)."""

BODY = {"model": "fakeai/gpt-fake", "messages": [{"role": "user", "content": "count me"}]}


def usage_config(
    fake: FakeOpenAI, *, budget_usd: float = 1.0, tpm: int = 1_000_000, reasoner: FakeServer | None = None
) -> dict[str, Any]:
    models = [{"id": m, **PRICE} for m in ("gpt-fake", "fake-no-usage", "fake-500", "fake-400")]
    plans = [
        {"name": "open", "models": ["*"]},
        {"name": "day50", "models": ["*"], "daily_requests": 50},
        {"name": "rpm30", "models": ["*"], "rpm": 30},
        {"name": "tpm", "models": ["*"], "tpm": tpm},
        {"name": "budget", "models": ["*"], "monthly_budget_usd": budget_usd},
        {"name": "day3", "models": ["*"], "daily_requests": 3, "rpm": 1000},
    ]
    keys = [{"name": f"k-{plan}", "key": secret, "plan": plan} for plan, secret in KEYS.items() if plan != "other"]
    keys.append({"name": "k-other", "key": KEYS["other"], "plan": "open"})
    keys.append({"name": "k-team", "key": TEAM_KEY, "team": "cfg-team"})
    teams = [{"name": "cfg-team", "plan": "open", "models": ["fakeai/gpt-fake"], "limits": {"rpm": 1000}}]
    providers: list[dict[str, Any]] = [
        {
            "name": "fakeai",
            "kind": "openai",
            "base_url": fake.base_url + "/v1",
            "api_key": "sk-upstream-usage",
            "timeout_s": 5,
            "models": models,
        }
    ]
    if reasoner is not None:
        priced = {
            "id": "r1",
            "input_cost_per_mtok": 2.0,
            "output_cost_per_mtok": 8.0,
            "cached_input_cost_per_mtok": 0.5,
        }
        providers.append(
            {"name": "reasoner", "kind": "openai", "base_url": reasoner.base_url + "/v1", "models": [priced]}
        )
    fallback = [{"provider": "fakeai", "model": "fake-500"}, {"provider": "fakeai", "model": "gpt-fake", "priority": 1}]
    routes = [{"name": "route/fallback", "targets": fallback, "params": {"retries": 0}}]
    return {"providers": providers, "routes": routes, "plans": plans, "teams": teams, "api_keys": keys}


def new_key(base_url: str, admin_key: str, **plan: Any) -> tuple[str, str]:
    """A fresh plan with `plan` limits and a key on it, through the management API: (secret, key id)."""
    name = f"p-{secrets.token_hex(4)}"
    with httpx.Client(base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {admin_key}"}) as admin:
        created = admin.post("/v1/plans", json={"name": name, "models": ["*"], **plan})
        assert created.status_code == 201, created.text
        key = admin.post("/v1/api-keys", json={"name": name, "plan": name})
        assert key.status_code == 201, key.text
    return key.json()["key"], key.json()["id"]


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run on a loop of its own in a helper thread (pytest-asyncio may own this thread's loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass
class Burst:
    statuses: list[int]
    codes: list[str | None]
    responses: list[httpx.Response]

    def count(self, status: int) -> int:
        return self.statuses.count(status)


def burst(base_url: str, key: str, n: int, body: dict[str, Any] | None = None, *, stream: bool = False) -> Burst:
    """`n` chat calls at once; every response read to the end."""

    async def main() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
        async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
            payload = {**(body or BODY), **({"stream": True} if stream else {})}
            headers = {"Authorization": f"Bearer {key}"}
            return list(
                await asyncio.gather(
                    *(client.post("/v1/chat/completions", json=payload, headers=headers) for _ in range(n))
                )
            )

    responses = run_async(main())
    return Burst([r.status_code for r in responses], [r.headers.get("x-error-code") for r in responses], responses)


async def _pg_fetch(url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(url)
    try:
        for index in range(len(args)):
            sql = sql.replace("?", f"${index + 1}", 1)
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def _pg_execute(url: str, sql: str, *args: Any) -> None:
    conn = await asyncpg.connect(url)
    try:
        for index in range(len(args)):
            sql = sql.replace("?", f"${index + 1}", 1)
        await conn.execute(sql, *args)
    finally:
        await conn.close()


def execute(url: str, sql: str, *args: Any) -> None:
    """Write straight into the gateway's database (`?` placeholders on both backends)."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url[len("sqlite:///") :], timeout=30) as conn:
            conn.execute(sql, args)
        return
    run_async(_pg_execute(url, sql, *args))


def fetch(url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows straight from the gateway's database (never through the gateway)."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url[len("sqlite:///") :], timeout=30) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql, args)]
    return run_async(_pg_fetch(url, sql, *args))


def wait_until(check: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(interval)


def wait_fresh_window(needed_s: float = 10.0) -> None:
    """Sleep into the next UTC minute when fewer than `needed_s` seconds are left in this one (or in the day),
    so a test that counts per-minute or per-day windows never straddles a reset."""
    now = datetime.now(UTC)
    left = 60 - now.second - now.microsecond / 1e6
    if left < needed_s:
        time.sleep(left + 0.05)
