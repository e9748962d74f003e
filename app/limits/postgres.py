"""Postgres counters for replicas that share the database but no Redis (LimitCounterRow).

An admission is one round trip: `pg_temp.polyroute_hit(...)`, a PL/pgSQL function each pooled
connection creates for its own session (as a Redis client loads its Lua script). In key order
it runs an `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` per request counter (row locks, so
concurrent admissions of one key queue), reads the check-only counters, and when any limit is
over it raises inside its own sub-transaction, which rolls every increment back. Row locks are
held only inside the server, never across a client round trip. This is the only place the hot
path touches the database, on a small pool of its own, so usage writes never stand in its way.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from app.limits.base import Hit, Verdict
from app.limits.outage import QUEUE_FACTOR, OutageGate

__all__ = ["APPLICATION_NAME", "PostgresCounters"]

APPLICATION_NAME = "polyroute-limits"


_FUNCTION = """
CREATE FUNCTION pg_temp.polyroute_hit(
    keys text[], limits float8[], amounts float8[], ttls float8[], checks boolean[]
) RETURNS TABLE (refused int, vals float8[]) LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(array_length(keys, 1), 0);
    before float8[] := array_fill(0::float8, ARRAY[n]);
    i int;
    v float8;
BEGIN
    refused := 0;
    BEGIN
        FOR i IN SELECT s.i FROM generate_subscripts(keys, 1) AS s(i) ORDER BY keys[s.i] LOOP
            IF checks[i] THEN
                SELECT c.value INTO v FROM limit_counter AS c WHERE c.key = keys[i] AND c.expires_at > now();
                before[i] := coalesce(v, 0);
            ELSE
                INSERT INTO limit_counter AS c (key, value, expires_at)
                VALUES (keys[i], amounts[i], now() + make_interval(secs => ttls[i]))
                ON CONFLICT (key) DO UPDATE SET
                    value = CASE WHEN c.expires_at <= now() THEN EXCLUDED.value ELSE c.value + EXCLUDED.value END,
                    expires_at = CASE WHEN c.expires_at <= now() THEN EXCLUDED.expires_at ELSE c.expires_at END
                RETURNING c.value INTO v;
                before[i] := v - amounts[i];
            END IF;
        END LOOP;
        FOR i IN 1..n LOOP
            IF (checks[i] AND before[i] >= limits[i]) OR (NOT checks[i] AND before[i] + amounts[i] > limits[i]) THEN
                refused := i;
                RAISE EXCEPTION 'polyroute: limit reached' USING ERRCODE = 'PR429';
            END IF;
        END LOOP;
    EXCEPTION WHEN SQLSTATE 'PR429' THEN
        vals := before;  -- the increments are rolled back; report the values as they stand
        RETURN NEXT;
        RETURN;
    END;
    FOR i IN 1..n LOOP
        IF NOT checks[i] THEN before[i] := before[i] + amounts[i]; END IF;
    END LOOP;
    vals := before;
    RETURN NEXT;
END $$
"""

_HIT = (
    "SELECT refused, vals FROM pg_temp.polyroute_hit($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::bool[])"
)

_ADD = """
INSERT INTO limit_counter AS c (key, value, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))
ON CONFLICT (key) DO UPDATE SET
    value = CASE WHEN c.expires_at <= now() THEN EXCLUDED.value ELSE c.value + EXCLUDED.value END,
    expires_at = CASE WHEN c.expires_at <= now() THEN EXCLUDED.expires_at ELSE c.expires_at END
RETURNING c.value
"""

_READ = "SELECT value FROM limit_counter WHERE key = $1 AND expires_at > now()"


async def _install(conn: Any) -> None:
    await conn.execute(_FUNCTION)


class PostgresCounters:
    """Exact across replicas: Postgres row locks serialise admissions of the same key."""

    def __init__(self, url: str, *, timeout_s: float = 1.0, cooldown_s: float = 1.0, max_size: int = 10) -> None:
        self._dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
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
                        init=_install,
                        server_settings={"application_name": APPLICATION_NAME},  # named in pg_stat_activity
                    )
        return self._pool

    async def _fetch(self, sql: str, *args: Any) -> Any:
        pool = await self._connections()
        # Only the store's own answer is timed. Waiting for one of our connections is queueing, not
        # an outage: a burst on one key lines up here (its row lock serialises it anyway), and
        # timing the wait would turn a busy store into a "down" one that admits everything.
        async with pool.acquire(timeout=self._timeout_s * QUEUE_FACTOR) as conn:
            self.gate.check()  # it went down while this call queued: fail fast, like the calls after it
            return await conn.fetchrow(sql, *args, timeout=self._timeout_s)

    async def hit(self, hits: list[Hit]) -> tuple[Verdict, list[float]]:
        if not hits:
            return Verdict(True, 0.0), []
        args = (
            [h.key for h in hits],
            [float(h.limit) for h in hits],
            [float(h.amount) for h in hits],
            [float(h.ttl_s) for h in hits],
            [h.check_only for h in hits],
        )
        row = await self.gate.run(lambda: self._fetch(_HIT, *args))
        values = [float(v) for v in row["vals"]]
        refused = int(row["refused"])
        if refused:
            return Verdict(False, values[refused - 1], refused - 1), values
        return Verdict(True, values[0]), values

    async def add(self, key: str, amount: float, ttl_s: float) -> float:
        row = await self.gate.run(lambda: self._fetch(_ADD, key, float(amount), float(ttl_s)))
        return float(row["value"])

    async def get(self, key: str) -> float:
        row = await self.gate.run(lambda: self._fetch(_READ, key))
        return float(row["value"]) if row is not None else 0.0

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
