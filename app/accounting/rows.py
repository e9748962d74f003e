"""Usage events into the database: request-log rows, the rollup upserts, and keys' last use.

Writing a batch twice is harmless: request-log rows are keyed by event id and inserted with
ON CONFLICT DO NOTHING ... RETURNING id, and only the rows that were actually new are added to
the rollups. That is what lets the writer replay a spool segment after a crash mid-write.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from app.accounting.events import TAG_COLUMNS, UsageEvent, tag_rows
from app.accounting.payloads import PAYLOAD_COLUMNS, payload_rows
from app.accounting.rollups import (
    DAILY_COLUMNS,
    HOURLY_COLUMNS,
    daily_rows,
    hourly_rows,
    statement_chunks,
    upsert_order,
    upsert_sql,
)
from app.accounting.sqlite_rows import mark_keys_used_sqlite, write_events_sqlite
from app.db.tables import ApiKeyRow, UsageEventRow

__all__ = [
    "EVENT_COLUMNS",
    "event_values",
    "insert_events",
    "mark_keys_used",
    "note_key_use",
    "transaction",
    "write_events",
]

log = logging.getLogger("polyroute.accounting")

EVENT_COLUMNS = (
    "id",
    "ts",
    "key_id",
    "user_id",
    "plan",
    "endpoint",
    "requested_model",
    "route",
    "provider",
    "model",
    "status",
    "error_code",
    "stream",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "estimated",
    "cost_usd",
    "latency_ms",
    "ttft_ms",
    "attempts",
    "detail",
    "trace_id",
    "end_user",
)

_encode = msgspec.json.Encoder()


def event_values(e: UsageEvent) -> list[Any]:
    """One request-log row in `EVENT_COLUMNS` order: ids, names and numbers, nothing copied from the catalog."""
    u = e.usage
    detail = _encode.encode(e.detail).decode() if e.detail else None
    return [
        e.id,
        datetime.fromtimestamp(e.ts, UTC),
        e.key_id,
        e.user_id,
        e.plan,
        e.endpoint,
        e.requested_model,
        e.route,
        e.provider,
        e.model,
        e.status,
        e.error_code,
        e.stream,
        u.prompt_tokens,
        u.completion_tokens,
        u.cached_tokens,
        u.reasoning_tokens,
        u.estimated,
        e.cost_usd,
        e.latency_ms,
        e.ttft_ms,
        e.attempts,
        detail,
        e.trace_id,
        e.end_user,
    ]


_PG_TYPES = {
    "ts": "timestamptz",
    "status": "int",
    "stream": "bool",
    "prompt_tokens": "int",
    "completion_tokens": "int",
    "cached_tokens": "int",
    "reasoning_tokens": "int",
    "estimated": "bool",
    "cost_usd": "float8",
    "latency_ms": "float8",
    "ttft_ms": "float8",
    "attempts": "int",
    "detail": "text",
}
# One statement, one array per column: Postgres returns exactly the ids that were new, even when two
# processes replay the same journal at once (executemany could not say which rows it inserted).
_INSERT_POSTGRES = (
    f"INSERT INTO usage_event ({', '.join(EVENT_COLUMNS)}) "  # noqa: S608
    f"SELECT {', '.join('c.detail::json' if c == 'detail' else 'c.' + c for c in EVENT_COLUMNS)} FROM unnest("
    + ", ".join(f"${i}::{_PG_TYPES.get(c, 'text')}[]" for i, c in enumerate(EVENT_COLUMNS, 1))
    + f") AS c({', '.join(EVENT_COLUMNS)}) ON CONFLICT (id) DO NOTHING RETURNING id"
)


async def insert_events(events: Sequence[UsageEvent]) -> set[str]:
    """Insert request-log rows on Postgres (inside the caller's transaction); returns the ids that were new.

    One statement on the transaction's own connection: building one piccolo query string with
    thousands of parameters cost more CPU than the insert itself.
    """
    transaction = UsageEventRow._meta.db.current_transaction.get()
    assert transaction is not None, "insert_events runs inside write_events' transaction"
    columns = list(zip(*(event_values(e) for e in events), strict=True))
    rows = await transaction.connection.fetch(_INSERT_POSTGRES, *[list(c) for c in columns])
    return {r["id"] for r in rows}


async def _upsert(table: str, columns: Sequence[str], rows: list[list[object]]) -> None:
    for chunk in statement_chunks(upsert_order(rows), len(columns)):
        sql = upsert_sql(table, columns, len(chunk))
        await UsageEventRow.raw(sql, *[v for row in chunk for v in row]).run()


async def _insert_tags(fresh: Sequence[UsageEvent]) -> None:
    rows = tag_rows(fresh)
    if not rows:
        return
    transaction = UsageEventRow._meta.db.current_transaction.get()
    assert transaction is not None, "_insert_tags runs inside write_events' transaction"
    event_ids, tags = (list(c) for c in zip(*rows, strict=True))
    await transaction.connection.execute(_INSERT_TAGS_POSTGRES, event_ids, tags)


_INSERT_TAGS_POSTGRES = f"INSERT INTO usage_tag ({', '.join(TAG_COLUMNS)}) SELECT * FROM unnest($1::text[], $2::text[])"  # noqa: S608
_INSERT_PAYLOADS_POSTGRES = (
    f"INSERT INTO usage_payload ({', '.join(PAYLOAD_COLUMNS)}) "  # noqa: S608
    "SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::bool[]) ON CONFLICT DO NOTHING"
)


async def _insert_payloads(fresh: Sequence[UsageEvent]) -> None:
    rows = payload_rows(fresh)
    if not rows:
        return
    transaction = UsageEventRow._meta.db.current_transaction.get()
    assert transaction is not None, "_insert_payloads runs inside write_events' transaction"
    await transaction.connection.execute(_INSERT_PAYLOADS_POSTGRES, *[list(c) for c in zip(*rows, strict=True)])


def transaction() -> Any:
    db = UsageEventRow._meta.db
    if isinstance(db, SQLiteEngine):
        # IMMEDIATE takes the write lock up front, so concurrent writers queue instead of failing.
        return db.transaction(transaction_type=TransactionType.immediate)
    return db.transaction()


async def write_events(events: Sequence[UsageEvent]) -> int:
    """One transaction: the new request-log rows and their rollups. Returns how many rows were new."""
    if not events:
        return 0
    db = UsageEventRow._meta.db
    if isinstance(db, SQLiteEngine):
        return await write_events_sqlite(db.connection_kwargs, events, EVENT_COLUMNS, event_values)
    async with transaction():
        new = await insert_events(events)
        fresh = [e for e in events if e.id in new]
        if fresh:
            await _insert_tags(fresh)
            await _insert_payloads(fresh)
            await _upsert("usage_daily", DAILY_COLUMNS, daily_rows(fresh))
            await _upsert("usage_hourly", HOURLY_COLUMNS, hourly_rows(fresh))
    return len(new)


def note_key_use(latest: dict[str, float], events: Sequence[UsageEvent]) -> None:
    """Fold `events` into `latest`: each key's newest use."""
    for e in events:
        if e.key_id is not None and e.ts > latest.get(e.key_id, 0.0):
            latest[e.key_id] = e.ts


async def mark_keys_used(latest: dict[str, float]) -> None:
    """api_key.last_used_at from `note_key_use`: one UPDATE per key, never moving backwards; best effort."""
    if not latest:
        return
    db = ApiKeyRow._meta.db
    if isinstance(db, SQLiteEngine):
        try:
            await mark_keys_used_sqlite(db.connection_kwargs, latest)
        except Exception as exc:
            log.debug("could not update last_used_at: %s", exc)
        return
    sql = "UPDATE api_key SET last_used_at = {} WHERE id = {} AND (last_used_at IS NULL OR last_used_at < {})"
    try:
        async with transaction():
            for key_id, ts in sorted(latest.items()):
                stamp = datetime.fromtimestamp(ts, UTC)
                await ApiKeyRow.raw(sql, stamp, key_id, stamp).run()
    except Exception as exc:
        log.debug("could not update last_used_at: %s", exc)
