"""Usage batches into SQLite in one worker-thread call.

Going through piccolo/aiosqlite cost one event-loop round trip per statement (begin, id check,
insert, two upserts, commit). Under load every round trip waits for a whole loop iteration behind
the requests in flight, and a 500-event batch took ~800 ms against ~27 ms on an idle loop, so the
writer fell behind from ~1,000 requests/s and its backlog grew in memory. Here a batch is one
blocking function on its own stdlib connection (same file, same adapters piccolo registers), run
with `asyncio.to_thread`: one round trip, and a handful of multi-row statements.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from app.accounting.events import TAG_COLUMNS, UsageEvent, tag_rows
from app.accounting.payloads import PAYLOAD_COLUMNS, payload_rows
from app.accounting.rollups import (
    DAILY_COLUMNS,
    HOURLY_COLUMNS,
    MAX_PARAMS,
    daily_rows,
    hourly_rows,
    statement_chunks,
    upsert_order,
    upsert_sql,
)

__all__ = ["mark_keys_used_sqlite", "write_events_sqlite"]


def _connect(kwargs: dict[str, Any]) -> sqlite3.Connection:
    # piccolo's own connection settings: autocommit mode (we BEGIN ourselves), its type converters.
    return sqlite3.connect(**{**kwargs, "check_same_thread": False})


def _transaction(kwargs: dict[str, Any], work: Any) -> Any:
    conn = _connect(kwargs)
    try:
        conn.execute("BEGIN IMMEDIATE")  # the write lock up front: concurrent writers queue, none fails
        try:
            result = work(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result
    finally:
        conn.close()


def _existing(conn: sqlite3.Connection, ids: list[str]) -> set[str]:
    # One aggregate row per statement rather than a row per id: one step instead of hundreds.
    found: set[str] = set()
    for start in range(0, len(ids), MAX_PARAMS):
        chunk = ids[start : start + MAX_PARAMS]
        sql = f"SELECT json_group_array(id) FROM usage_event WHERE id IN ({', '.join('?' * len(chunk))})"  # noqa: S608
        (listed,) = conn.execute(sql, chunk).fetchone()
        found.update(json.loads(listed))
    return found


def _insert_many(conn: sqlite3.Connection, sql_for: Any, width: int, rows: list[list[Any]]) -> None:
    for chunk in statement_chunks(rows, width):
        conn.execute(sql_for(len(chunk)), [v for row in chunk for v in row])


def _write(conn: sqlite3.Connection, events: Sequence[UsageEvent], columns: Sequence[str], values: Any) -> int:
    known = _existing(conn, [e.id for e in events])
    fresh = list({e.id: e for e in events if e.id not in known}.values())  # a replayed segment may repeat one
    if not fresh:
        return 0
    one = "(" + ", ".join("?" * len(columns)) + ")"
    head = f"INSERT INTO usage_event ({', '.join(columns)}) VALUES "  # noqa: S608  (our column names only)
    _insert_many(
        conn,
        lambda n: head + ", ".join([one] * n) + " ON CONFLICT (id) DO NOTHING",
        len(columns),
        [values(e) for e in fresh],
    )
    tags = tag_rows(fresh)
    if tags:
        head_tags = f"INSERT INTO usage_tag ({', '.join(TAG_COLUMNS)}) VALUES "  # noqa: S608
        _insert_many(conn, lambda n: head_tags + ", ".join(["(?, ?)"] * n), len(TAG_COLUMNS), tags)
    payloads = payload_rows(fresh)
    if payloads:
        head_payloads = f"INSERT OR IGNORE INTO usage_payload ({', '.join(PAYLOAD_COLUMNS)}) VALUES "  # noqa: S608
        one_payload = "(" + ", ".join("?" * len(PAYLOAD_COLUMNS)) + ")"
        _insert_many(conn, lambda n: head_payloads + ", ".join([one_payload] * n), len(PAYLOAD_COLUMNS), payloads)
    for table, cols, rows in (
        ("usage_daily", DAILY_COLUMNS, daily_rows(fresh)),
        ("usage_hourly", HOURLY_COLUMNS, hourly_rows(fresh)),
    ):
        _insert_many(
            conn, lambda n, t=table, c=cols: upsert_sql(t, c, n, placeholder="?"), len(cols), upsert_order(rows)
        )
    return len(fresh)


async def write_events_sqlite(
    kwargs: dict[str, Any], events: Sequence[UsageEvent], columns: Sequence[str], values: Any
) -> int:
    """Insert the events not yet logged and add them to the rollups; returns how many were new."""
    return int(await asyncio.to_thread(_transaction, kwargs, lambda conn: _write(conn, events, columns, values)))


def _mark(conn: sqlite3.Connection, latest: dict[str, float]) -> None:
    sql = "UPDATE api_key SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)"
    for key_id, ts in sorted(latest.items()):
        stamp = datetime.fromtimestamp(ts, UTC)
        conn.execute(sql, (stamp, key_id, stamp))


async def mark_keys_used_sqlite(kwargs: dict[str, Any], latest: dict[str, float]) -> None:
    await asyncio.to_thread(_transaction, kwargs, lambda conn: _mark(conn, latest))
