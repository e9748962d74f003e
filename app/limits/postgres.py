"""Postgres counters for replicas that share the database but no Redis (LimitCounterRow).

One transaction per admission: an `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` adds to
every request counter at once (row locks taken in key order, so concurrent admissions queue
instead of deadlocking), and a refusal rolls the whole transaction back. This is the only
place the hot path touches the database: one transaction (BEGIN, the upsert, COMMIT) on a small
pool of its own, so usage writes never stand in its way.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from app.limits.base import Hit, Verdict, over_limit
from app.limits.outage import OutageGate

__all__ = ["PostgresCounters"]

_UPSERT = """
WITH req AS (
    SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[]) AS r(key, amount, ttl)
), up AS (
    INSERT INTO limit_counter AS c (key, value, expires_at)
    SELECT key, amount, now() + make_interval(secs => ttl) FROM req ORDER BY key
    ON CONFLICT (key) DO UPDATE SET
        value = CASE WHEN c.expires_at <= now() THEN EXCLUDED.value ELSE c.value + EXCLUDED.value END,
        expires_at = CASE WHEN c.expires_at <= now() THEN EXCLUDED.expires_at ELSE c.expires_at END
    RETURNING key, value
)
SELECT key, value FROM up
UNION ALL
SELECT key, value FROM limit_counter WHERE key = ANY($4::text[]) AND expires_at > now()
"""

_READ_ONE = "SELECT value FROM limit_counter WHERE key = $1 AND expires_at > now()"

_READ = "SELECT key, value FROM limit_counter WHERE key = ANY($1::text[]) AND expires_at > now()"


class _Refused(Exception):
    """Raised inside the transaction to roll it back."""


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class PostgresCounters:
    """Exact across replicas: Postgres row locks serialise admissions of the same key."""

    def __init__(self, url: str, *, timeout_s: float = 1.0, cooldown_s: float = 1.0, max_size: int = 10) -> None:
        self._dsn = _dsn(url)
        self._timeout_s = timeout_s
        self._max_size = max_size
        self._pool: Any = None
        self._pool_lock = asyncio.Lock()
        errors = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
        self.gate = OutageGate("Postgres (rate-limit counters)", errors, cooldown_s=cooldown_s)

    async def _connections(self) -> Any:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=1,
                        max_size=self._max_size,
                        timeout=self._timeout_s,
                        command_timeout=self._timeout_s,
                    )
        return self._pool

    async def _transaction(self, hits: list[Hit]) -> list[float]:
        adds = sorted({h.key: h for h in hits if not h.check_only}.values(), key=lambda h: h.key)
        checks = [h.key for h in hits if h.check_only]
        pool = await self._connections()
        async with asyncio.timeout(self._timeout_s), pool.acquire() as conn:
            if not adds:
                found = {r["key"]: float(r["value"]) for r in await conn.fetch(_READ, checks)}
                return [found.get(h.key, 0.0) for h in hits]
            try:
                async with conn.transaction():
                    rows = await conn.fetch(
                        _UPSERT, [h.key for h in adds], [h.amount for h in adds], [h.ttl_s for h in adds], checks
                    )
                    after = {r["key"]: float(r["value"]) for r in rows}
                    values = [after.get(h.key, 0.0) - (0 if h.check_only else h.amount) for h in hits]
                    if any(over_limit(h, v) for h, v in zip(hits, values, strict=True)):
                        raise _Refused
            except _Refused:
                pass
            return values

    async def hit(self, hits: list[Hit]) -> tuple[Verdict, list[float]]:
        if not hits:
            return Verdict(True, 0.0), []
        before = await self.gate.run(lambda: self._transaction(hits))
        for index, (h, value) in enumerate(zip(hits, before, strict=True)):
            if over_limit(h, value):
                return Verdict(False, value, index), before
        after = [v if h.check_only else v + h.amount for h, v in zip(hits, before, strict=True)]
        return Verdict(True, after[0]), after

    async def _add(self, key: str, amount: float, ttl_s: float) -> float:
        pool = await self._connections()
        async with asyncio.timeout(self._timeout_s), pool.acquire() as conn:
            rows = await conn.fetch(_UPSERT, [key], [amount], [ttl_s], [])
        return float(rows[0]["value"])

    async def add(self, key: str, amount: float, ttl_s: float) -> float:
        return await self.gate.run(lambda: self._add(key, amount, ttl_s))

    async def get(self, key: str) -> float:
        async def read() -> float:
            pool = await self._connections()
            async with asyncio.timeout(self._timeout_s), pool.acquire() as conn:
                value = await conn.fetchval(_READ_ONE, key)
            return float(value) if value is not None else 0.0

        return await self.gate.run(read)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
