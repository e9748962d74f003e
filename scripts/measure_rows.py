"""Measure how much storage usage accounting costs: bytes per request-log row and per rollup row.

Inserts synthetic usage events (1M by default, shaped like real traffic: 28-character request
ids, a one-attempt `detail`, 50 keys, 3 models, 2 providers, a few statuses, 30 days) into a
fresh SQLite file and a fresh Postgres database, through the same row and rollup code the
writer uses, in batches. Then prints the bytes per row of usage_event (heap plus indexes) and of
the rollups. Bounded: about a minute per backend on a small machine.

  uv run python scripts/measure_rows.py                      # 1M rows, SQLite and Postgres
  uv run python scripts/measure_rows.py --rows 200000 --backends sqlite
  POLYROUTE_TEST_POSTGRES_URL=postgresql://user@host/db uv run python scripts/measure_rows.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from app.accounting.events import Usage, UsageEvent
from app.accounting.rollups import DAILY_COLUMNS, HOURLY_COLUMNS, daily_rows, hourly_rows, upsert_sql
from app.accounting.rows import EVENT_COLUMNS, event_values
from app.db.engine import migrate

BATCH = 5000
ADMIN_URL = os.environ.get("POLYROUTE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TABLES = ("usage_event", "usage_hourly", "usage_daily")


def events(count: int, seed: int = 1) -> Iterator[list[UsageEvent]]:
    """Batches of plausible events over the last 30 days."""
    rng = random.Random(seed)
    keys = [f"key_{secrets.token_hex(8)}" for _ in range(50)]
    models = [("openai", "gpt-4.1-mini"), ("anthropic", "claude-haiku-4-5"), ("openai", "gpt-4.1")]
    start = time.time() - 30 * 86400
    batch: list[UsageEvent] = []
    for i in range(count):
        provider, model = models[i % 3]
        status = 200 if rng.random() < 0.95 else rng.choice((429, 502, 400))
        ok = status == 200
        latency = rng.lognormvariate(6.5, 0.8)
        attempt = {"provider": provider, "model": model, "outcome": "ok" if ok else "error", "status": status}
        batch.append(
            UsageEvent(
                id="req_" + secrets.token_hex(12),
                ts=start + i * (30 * 86400 / count),
                endpoint="chat.completions",
                status=status,
                key_id=keys[i % 50],
                plan="pro",
                requested_model=f"{provider}/{model}",
                provider=provider if status != 429 else None,
                model=model if status != 429 else None,
                error_code=None if ok else {429: "RATE_LIMITED", 502: "PROVIDER_ERROR", 400: "INVALID_REQUEST"}[status],
                stream=rng.random() < 0.6,
                usage=Usage(prompt_tokens=rng.randint(20, 4000), completion_tokens=rng.randint(1, 800))
                if ok
                else Usage(),
                cost_usd=rng.random() / 1000 if ok else 0.0,
                latency_ms=latency,
                ttft_ms=latency / 3 if ok else None,
                attempts=1 if status != 429 else 0,
                detail={"attempts": [{**attempt, "duration_ms": round(latency, 1)}]} if status != 429 else None,
                trace_id=secrets.token_hex(16),
            )
        )
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _sqlite_sizes(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        try:
            rows = conn.execute("SELECT tbl_name, SUM(pgsize) FROM dbstat JOIN sqlite_schema USING (name) GROUP BY 1")
            return {name: int(size) for name, size in rows}
        except sqlite3.OperationalError:  # built without dbstat: only the file size is known
            return {"usage_event": path.stat().st_size}


def measure_sqlite(count: int) -> dict[str, Any]:
    path = Path(tempfile.mkdtemp()) / "measure.db"
    asyncio.run(migrate(f"sqlite:///{path}"))
    started = time.perf_counter()
    with sqlite3.connect(path) as conn:
        insert = f"INSERT INTO usage_event ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
        for batch in events(count):
            conn.executemany(insert, [event_values(e) for e in batch])
            for table, columns, rows in (
                ("usage_hourly", HOURLY_COLUMNS, hourly_rows(batch)),
                ("usage_daily", DAILY_COLUMNS, daily_rows(batch)),
            ):
                sql = upsert_sql(table, columns, 1).replace("{}", "?")
                conn.executemany(sql, rows)
            conn.commit()
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "counts": counts, "bytes": _sqlite_sizes(path), "file": path.stat().st_size}


async def measure_postgres(count: int) -> dict[str, Any]:
    name = f"polyroute_measure_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        await migrate(url)
        conn = await asyncpg.connect(url)
        started = time.perf_counter()
        for batch in events(count):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "usage_event", records=[event_values(e) for e in batch], columns=list(EVENT_COLUMNS)
                )
                for table, columns, rows in (
                    ("usage_hourly", HOURLY_COLUMNS, hourly_rows(batch)),
                    ("usage_daily", DAILY_COLUMNS, daily_rows(batch)),
                ):
                    sql = upsert_sql(table, columns, 1)
                    for index in range(len(columns)):
                        sql = sql.replace("{}", f"${index + 1}", 1)
                    await conn.executemany(sql, rows)
        await conn.execute("VACUUM ANALYZE")
        seconds = time.perf_counter() - started
        counts = {t: await conn.fetchval(f"SELECT COUNT(*) FROM {t}") for t in TABLES}
        sizes = {t: await conn.fetchval("SELECT pg_total_relation_size($1)", t) for t in TABLES}
        heap = await conn.fetchval("SELECT pg_relation_size('usage_event')")
        await conn.close()
        return {"seconds": seconds, "counts": counts, "bytes": sizes, "heap": heap}
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def report(backend: str, result: dict[str, Any]) -> None:
    counts, sizes = result["counts"], result["bytes"]
    print(f"\n{backend}: {counts['usage_event']:,} request rows written in {result['seconds']:.1f}s")
    for table in TABLES:
        if table in sizes and counts[table]:
            per_row = sizes[table] / counts[table]
            per_request = sizes[table] / counts["usage_event"]
            print(
                f"  {table:<13} {counts[table]:>10,} rows  {sizes[table] / 1e6:8.1f} MB"
                f"  {per_row:7.0f} B/row  {per_request:6.1f} B per request"
            )
    if "heap" in result:
        print(f"  usage_event heap alone: {result['heap'] / counts['usage_event']:.0f} B/row (the rest is indexes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    backends = args.backends.split(",")
    if "sqlite" in backends:
        report("SQLite", measure_sqlite(args.rows))
    if "postgres" in backends:
        report("Postgres", asyncio.run(measure_postgres(args.rows)))


if __name__ == "__main__":
    main()
