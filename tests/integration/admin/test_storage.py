"""What the gateway stores works the same on SQLite and Postgres: JSON columns, timestamps, usage rollups."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from tests.integration.admin.conftest import Admin, unique, wait_until


async def _pg_fetch(url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(url)
    try:
        return [dict(r) for r in await conn.fetch(sql.replace("?", "$1"), *args)]
    finally:
        await conn.close()


def fetch(url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    if url.startswith("sqlite"):
        with sqlite3.connect(url[len("sqlite:///") :]) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql, args)]
    return asyncio.run(_pg_fetch(url, sql, *args))


def test_nested_json_and_timestamps_round_trip(admin: httpx.Client) -> None:
    model = {"id": "m", "input_cost_per_mtok": 0.25, "context_window": 8192, "vision": True, "prefill": False}
    body = {"name": unique("json"), "kind": "demo", "models": [model], "headers": {"x-a": "1"}}
    created = admin.post("/v1/configs", json=body).json()
    assert created["models"] == [model]
    assert created["headers"] == {"x-a": "1"}
    stamp = datetime.fromisoformat(created["created_at"])
    assert stamp.tzinfo is not None
    assert abs(stamp - datetime.now(UTC)) < timedelta(minutes=1)
    meta = {"nested": {"list": [1, 2.5, None, "x"]}, "unicode": "héllo ✓"}
    key = admin.post("/v1/api-keys", json={"name": unique("k"), "metadata": meta, "allowed_models": ["a/*"]}).json()
    got = admin.get(f"/v1/api-keys/{key['id']}").json()
    assert got["metadata"] == meta
    assert got["allowed_models"] == ["a/*"]


def test_usage_events_and_daily_rollups_are_written(api: Admin, admin: httpx.Client) -> None:
    key = admin.post("/v1/api-keys", json={"name": unique("usage"), "plan": "cfg-plan"}).json()
    assert api.inference(key["key"]) == 200
    assert api.inference(key["key"]) == 200
    url = api.gw.database_url

    def rolled_up() -> bool:
        rows = fetch(url, "SELECT requests FROM usage_daily WHERE key_id = ?", key["id"])
        return bool(rows) and rows[0]["requests"] == 2  # the upsert added to the same row

    wait_until(rolled_up, timeout=5)
    events = fetch(url, "SELECT status, provider FROM usage_event WHERE key_id = ?", key["id"])
    assert [(e["status"], e["provider"]) for e in events] == [(200, "cfg-demo"), (200, "cfg-demo")]
