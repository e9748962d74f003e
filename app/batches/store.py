"""Batch and batch-line rows: create, read, the coordinator's lease, and the transitions it makes.

A batch moves `validating -> in_progress -> finalizing -> completed` (or `failed`, `expired`,
`cancelling -> cancelled`). One replica at a time coordinates a batch: `claim` leases every
unfinished batch that is free (or whose holder stopped renewing) to the caller, so a restarted or
surviving replica picks up where a stopped one left off.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from app.batches.ids import new_id
from app.batches.lines import MESSAGES_ENDPOINT, LineSpec
from app.db.tables import BatchLineRow, BatchRow
from app.errors import ConflictError, NotFoundError

__all__ = [
    "ACTIVE",
    "BatchRecord",
    "LineRecord",
    "claim",
    "count_lines",
    "create",
    "delete",
    "encode_json",
    "get",
    "lines",
    "list_batches",
    "now",
    "release",
    "replace_lines",
    "request_cancel",
    "set_line",
    "update",
]

ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")
_TIMES = ("created_at", "in_progress_at", "finalizing_at", "completed_at", "failed_at", "cancelling_at")
_TIMES_2 = ("cancelled_at", "expires_at", "expired_at")


def now() -> datetime:
    return datetime.now(UTC)


def _unix(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _load(value: Any) -> Any:
    if isinstance(value, str | bytes):
        return msgspec.json.decode(value) if value else None
    return value


def encode_json(value: Any) -> str | None:
    """A JSON column's value (piccolo stores JSON as text)."""
    return None if value is None else msgspec.json.encode(value).decode()


class BatchRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One batch row, decoded."""

    id: str
    key_id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    status: str
    mode: str | None = None
    provider: str | None = None
    model: str | None = None
    upstream_id: str | None = None
    upstream_file_id: str | None = None
    upstream_status: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    times: dict[str, datetime | None] = msgspec.field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """OpenAI's batch object."""
        doc: dict[str, Any] = {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "request_counts": {"total": self.total, "completed": self.completed, "failed": self.failed},
            "metadata": self.metadata,
            "model": f"{self.provider}/{self.model}" if self.mode == "native" else None,
        }
        doc |= {name: _unix(self.times.get(name)) for name in (*_TIMES, *_TIMES_2)}
        return doc


def _record(row: dict[str, Any]) -> BatchRecord:
    return BatchRecord(
        id=row["id"],
        key_id=row["key_id"],
        endpoint=row["endpoint"],
        input_file_id=row["input_file_id"],
        completion_window=row["completion_window"],
        status=row["status"],
        mode=row["mode"],
        provider=row["provider"],
        model=row["model"],
        upstream_id=row["upstream_id"],
        upstream_file_id=row["upstream_file_id"],
        upstream_status=row["upstream_status"],
        output_file_id=row["output_file_id"],
        error_file_id=row["error_file_id"],
        total=row["total"],
        completed=row["completed"],
        failed=row["failed"],
        errors=_load(row["errors"]),
        metadata=_load(row["metadata"]),
        times={name: row[name] for name in (*_TIMES, *_TIMES_2)},
    )


async def create(
    *,
    key_id: str,
    endpoint: str,
    input_file_id: str,
    completion_window: str,
    metadata: dict[str, Any] | None,
    prefix: str = "batch_",
    total: int = 0,
) -> BatchRecord:
    """`total`: the request count when it is known before validation (a message batch's)."""
    moment = now()
    row = BatchRow(
        id=new_id(prefix),
        total=total,
        key_id=key_id,
        endpoint=endpoint,
        input_file_id=input_file_id,
        completion_window=completion_window,
        status="validating",
        metadata=encode_json(metadata),
        created_at=moment,
        expires_at=moment + timedelta(hours=24),
    )
    inserted = await BatchRow.insert(row).returning(*BatchRow.all_columns()).run()
    return _record(inserted[0])


async def get(batch_id: str, key_id: str | None = None) -> BatchRecord | None:
    where: Any = BatchRow.id == batch_id
    if key_id is not None:
        where &= BatchRow.key_id == key_id
    row = await BatchRow.select().where(where).first().run()
    return _record(row) if row else None


async def list_batches(
    key_id: str, *, limit: int, after: str | None, messages: bool = False, before: str | None = None
) -> tuple[list[BatchRecord], bool]:
    """A key's batches, newest first: its message batches (`messages`) or the others. `after` is the
    last id of the previous page (older ones follow), `before` the first id of the next (newer ones)."""
    where: Any = (BatchRow.key_id == key_id) & (
        (BatchRow.endpoint == MESSAGES_ENDPOINT) if messages else (BatchRow.endpoint != MESSAGES_ENDPOINT)
    )
    if after is not None:
        where &= BatchRow.id < after
    if before is not None:
        where &= BatchRow.id > before
    query = BatchRow.select().where(where).order_by(BatchRow.id, ascending=before is not None).limit(limit + 1)
    rows = await query.run()
    page = [_record(r) for r in rows[:limit]]
    return (page[::-1] if before is not None else page), len(rows) > limit


async def delete(batch_id: str, key_id: str) -> BatchRecord:
    """Remove a finished batch and its lines (its files stay the key's); 404, or 409 while it runs."""
    found = await get(batch_id, key_id)
    if found is None:
        raise NotFoundError(f"No batch '{batch_id}'")
    if found.status in ACTIVE:
        raise ConflictError(f"Batch '{batch_id}' is {found.status}; only an ended batch can be deleted")
    async with BatchRow._meta.db.transaction():
        await BatchLineRow.delete().where(BatchLineRow.batch_id == batch_id).run()
        await BatchRow.delete().where((BatchRow.id == batch_id) & BatchRow.status.not_in(list(ACTIVE))).run()
    return found


async def request_cancel(batch_id: str, key_id: str) -> BatchRecord:
    """Mark a validating or running batch `cancelling` (the coordinator finishes the job); 404 / 409 otherwise."""
    found = await get(batch_id, key_id)
    if found is None:
        raise NotFoundError(f"No batch '{batch_id}'")
    if found.status == "cancelling":
        return found
    done = await update(
        batch_id, {"status": "cancelling", "cancelling_at": now()}, status_in=("validating", "in_progress")
    )
    if done is not None:
        return done
    current = await get(batch_id, key_id) or found
    raise ConflictError(f"Batch '{batch_id}' is {current.status}; only a validating or running batch can be cancelled")


async def update(
    batch_id: str, values: dict[str, Any], *, status_in: Sequence[str] | None = None
) -> BatchRecord | None:
    """Set columns by name (JSON ones encoded here); with `status_in`, only from one of those states."""
    encoded = {
        getattr(BatchRow, name): encode_json(value) if name in ("errors", "metadata") else value
        for name, value in values.items()
    }
    where: Any = BatchRow.id == batch_id
    if status_in is not None:
        where &= BatchRow.status.is_in(list(status_in))
    rows = await BatchRow.update(encoded).where(where).returning(*BatchRow.all_columns()).run()
    return _record(rows[0]) if rows else None


async def claim(worker: str, lease_s: float) -> list[BatchRecord]:
    """Lease every unfinished batch that is free, lapsed, or already ours, to `worker`."""
    moment = now()
    free = BatchRow.locked_by.is_null() | (BatchRow.locked_by == worker) | (BatchRow.locked_until < moment)
    lease: dict[Any, Any] = {BatchRow.locked_by: worker, BatchRow.locked_until: moment + timedelta(seconds=lease_s)}
    rows = (
        await BatchRow.update(lease)
        .where(BatchRow.status.is_in(list(ACTIVE)) & free)
        .returning(*BatchRow.all_columns())
        .run()
    )
    return sorted((_record(r) for r in rows), key=lambda b: b.id)


async def release(worker: str) -> None:
    """Give up every lease `worker` holds (graceful shutdown): another replica may go on at once."""
    await (
        BatchRow.update({BatchRow.locked_by: None, BatchRow.locked_until: None})
        .where(BatchRow.locked_by == worker)
        .run()
    )


# -- lines -----------------------------------------------------------------------------------------


class LineRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    line_no: int
    custom_id: str | None
    body: dict[str, Any] | None
    status: str
    task_id: str | None
    attempts: int
    status_code: int | None
    request_id: str | None
    response: Any
    error: dict[str, Any] | None


def _line(row: dict[str, Any]) -> LineRecord:
    return LineRecord(
        id=row["id"],
        line_no=row["line_no"],
        custom_id=row["custom_id"],
        body=_load(row["body"]),
        status=row["status"],
        task_id=row["task_id"],
        attempts=row["attempts"],
        status_code=row["status_code"],
        request_id=row["request_id"],
        response=_load(row["response"]),
        error=_load(row["error"]),
    )


async def replace_lines(batch_id: str, specs: Sequence[LineSpec], *, keep_valid: bool) -> None:
    """Store the batch's lines (invalid ones already failed), replacing what an interrupted run left."""
    await BatchLineRow.delete().where(BatchLineRow.batch_id == batch_id).run()
    rows = [
        BatchLineRow(
            id=new_id("batch_req_"),
            batch_id=batch_id,
            line_no=spec.line_no,
            custom_id=spec.custom_id,
            body=encode_json(spec.body),
            status="pending" if spec.valid else "failed",
            status_code=spec.status_code,
            response=encode_json(spec.response),
            error=encode_json(spec.error),
        )
        for spec in specs
        if keep_valid or not spec.valid
    ]
    for start in range(0, len(rows), 500):
        await BatchLineRow.insert(*rows[start : start + 500]).run()


async def lines(
    batch_id: str, status: str | None = None, *, limit: int | None = None, after_no: int = -1
) -> list[LineRecord]:
    """Lines in input order; `after_no` pages through a big batch."""
    where: Any = (BatchLineRow.batch_id == batch_id) & (BatchLineRow.line_no > after_no)
    if status is not None:
        where &= BatchLineRow.status == status
    query = BatchLineRow.select().where(where).order_by(BatchLineRow.line_no)
    if limit is not None:
        query = query.limit(limit)
    return [_line(r) for r in await query.run()]


async def set_line(line_id: str, values: dict[str, Any]) -> None:
    encoded = {
        getattr(BatchLineRow, name): encode_json(value) if name in ("response", "error", "body") else value
        for name, value in values.items()
    }
    await BatchLineRow.update(encoded).where(BatchLineRow.id == line_id).run()


async def count_lines(batch_id: str) -> dict[str, int]:
    rows = await BatchLineRow.raw(
        "SELECT status, COUNT(*) AS n FROM batch_line WHERE batch_id = {} GROUP BY status", batch_id
    ).run()
    return {r["status"]: int(r["n"]) for r in rows}
