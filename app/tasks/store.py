"""Task rows: create, read, and the atomic claim / lease / complete transitions every replica races on.

A row moves `queued -> running -> succeeded | failed | cancelled`. Every transition is one
conditional UPDATE, so two replicas can never both win one: a claim takes the oldest queued row
(`FOR UPDATE SKIP LOCKED` on Postgres; SQLite serialises writers), stamps `locked_by` and a lease
in `locked_until`, and only the lease holder may complete the row. A lapsed lease means the holder
died: the reaper requeues the row (or fails it after `max_attempts`). A finished row whose webhook
is still owed keeps a lease too, so a crash during delivery hands the delivery to another replica.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec
from piccolo.engine.postgres import PostgresEngine

from app.db.tables import TaskRow
from app.errors import ConflictError, NotFoundError

__all__ = [
    "ACTIVE",
    "FINISHED",
    "STATUSES",
    "TaskRecord",
    "TaskStatus",
    "cancel",
    "claim",
    "claim_webhooks",
    "complete",
    "count_queued",
    "create",
    "expired_leases",
    "fail_expired",
    "finish_webhook",
    "get",
    "heartbeat",
    "list_tasks",
    "new_task_id",
    "purge",
    "release",
    "requeue_expired",
]

TaskStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
STATUSES: tuple[TaskStatus, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE: tuple[TaskStatus, ...] = ("queued", "running")
FINISHED: tuple[TaskStatus, ...] = ("succeeded", "failed", "cancelled")


class TaskRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One task row, decoded."""

    id: str
    key_id: str | None
    endpoint: str
    body: dict[str, Any]
    headers: dict[str, str]
    status: TaskStatus
    result: Any = None
    problem: dict[str, Any] | None = None
    webhook_url: str | None = None
    webhook_status: str | None = None
    attempts: int = 0
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    expires_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        """The task object the API returns and the webhook carries (timestamps in Unix seconds)."""
        model = self.body.get("model")
        return {
            "id": self.id,
            "object": "task",
            "endpoint": self.endpoint,
            "model": model if isinstance(model, str) else None,
            "status": self.status,
            "attempts": self.attempts,
            "created_at": _unix(self.created_at),
            "started_at": _unix(self.started_at),
            "finished_at": _unix(self.finished_at),
            "expires_at": _unix(self.expires_at),
            "result": self.result,
            "problem": self.problem,
            "webhook_url": self.webhook_url,
            "webhook_status": self.webhook_status,
        }


def _unix(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _now() -> datetime:
    return datetime.now(UTC)


def _json(value: Any) -> str | None:
    return None if value is None else msgspec.json.encode(value).decode()


def _load(value: Any) -> Any:
    if isinstance(value, str | bytes):
        return msgspec.json.decode(value) if value else None
    return value


def _record(row: dict[str, Any]) -> TaskRecord:
    return TaskRecord(
        id=row["id"],
        key_id=row["key_id"],
        endpoint=row["endpoint"],
        body=_load(row["body"]) or {},
        headers=_load(row["headers"]) or {},
        status=row["status"],
        result=_load(row["result"]),
        problem=_load(row["problem"]),
        webhook_url=row["webhook_url"],
        webhook_status=row["webhook_status"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        expires_at=row["expires_at"],
    )


_last_us = 0


def new_task_id() -> str:
    """`task_` + microseconds (hex, fixed width, strictly increasing in a process) + randomness.

    Ids sort by creation time, so the queue and the list pages order by the primary key.
    """
    global _last_us
    _last_us = max(time.time_ns() // 1000, _last_us + 1)
    return f"task_{_last_us:014x}{os.urandom(6).hex()}"


async def create(
    *, key_id: str, endpoint: str, body: dict[str, Any], headers: dict[str, str], webhook_url: str | None
) -> TaskRecord:
    row = TaskRow(
        id=new_task_id(),
        key_id=key_id,
        endpoint=endpoint,
        body=_json(body),
        headers=_json(headers),
        status="queued",
        webhook_url=webhook_url,
        attempts=0,
        created_at=_now(),
    )
    inserted = await TaskRow.insert(row).returning(*TaskRow.all_columns()).run()
    return _record(inserted[0])


async def get(task_id: str, key_id: str | None) -> TaskRecord | None:
    """The task, if it exists and (when `key_id` is given) belongs to that key."""
    where: Any = TaskRow.id == task_id
    if key_id is not None:
        where &= TaskRow.key_id == key_id
    row = await TaskRow.select().where(where).first().run()
    return _record(row) if row else None


async def list_tasks(
    key_id: str, *, status: TaskStatus | None, limit: int, after: str | None
) -> tuple[list[TaskRecord], bool]:
    """A key's tasks, newest first; `after` is the last id of the previous page. Returns (page, has_more)."""
    where: Any = TaskRow.key_id == key_id
    if status is not None:
        where &= TaskRow.status == status
    if after is not None:
        where &= TaskRow.id < after
    rows = await TaskRow.select().where(where).order_by(TaskRow.id, ascending=False).limit(limit + 1).run()
    return [_record(r) for r in rows[:limit]], len(rows) > limit


_CLAIM = (
    "UPDATE task SET status = 'running', locked_by = {}, locked_until = {}, started_at = {}, "
    "attempts = attempts + 1 "
    "WHERE id = (SELECT id FROM task WHERE status = 'queued' ORDER BY id LIMIT 1%s) "
    "AND status = 'queued' RETURNING *"
)
_CLAIM_SQLITE = _CLAIM % ""
"""SQLite runs one writer at a time, so the statement is atomic; the status re-check is belt and braces."""
_CLAIM_POSTGRES = _CLAIM % " FOR UPDATE SKIP LOCKED"
"""Concurrent claimers skip each other's locked candidate instead of queueing behind it."""


async def claim(worker: str, lease_s: float) -> TaskRecord | None:
    """Take the oldest queued task for `worker`, atomically; None when the queue is empty."""
    now = _now()
    sql = _CLAIM_POSTGRES if isinstance(TaskRow._meta.db, PostgresEngine) else _CLAIM_SQLITE
    rows = await TaskRow.raw(sql, worker, now + timedelta(seconds=lease_s), now).run()
    return _record(rows[0]) if rows else None


async def heartbeat(worker: str, lease_s: float) -> set[str]:
    """Extend every lease `worker` holds; returns the ids it still holds (a missing one was taken away)."""
    rows = (
        await TaskRow.update({TaskRow.locked_until: _now() + timedelta(seconds=lease_s)})
        .where(TaskRow.locked_by == worker)
        .returning(TaskRow.id)
        .run()
    )
    return {r["id"] for r in rows}


def _finish_values(
    status: TaskStatus, retention_s: float, webhook: bool, worker: str | None, lease_s: float
) -> dict[Any, Any]:
    now = _now()
    return {
        TaskRow.status: status,
        TaskRow.finished_at: now,
        TaskRow.expires_at: now + timedelta(seconds=retention_s),
        TaskRow.webhook_status: "pending" if webhook else None,
        # A webhook still owed keeps the row leased to whoever delivers it.
        TaskRow.locked_by: worker if webhook else None,
        TaskRow.locked_until: now + timedelta(seconds=lease_s) if webhook else None,
    }


async def complete(
    task_id: str,
    worker: str,
    *,
    status: TaskStatus,
    result: Any,
    problem: dict[str, Any] | None,
    webhook: bool,
    retention_s: float,
    lease_s: float,
) -> TaskRecord | None:
    """Record the outcome, if `worker` still holds the running task (None: it was cancelled or taken)."""
    values = _finish_values(status, retention_s, webhook, worker, lease_s)
    values |= {TaskRow.result: _json(result), TaskRow.problem: _json(problem)}
    rows = (
        await TaskRow.update(values)
        .where((TaskRow.id == task_id) & (TaskRow.locked_by == worker) & (TaskRow.status == "running"))
        .returning(*TaskRow.all_columns())
        .run()
    )
    return _record(rows[0]) if rows else None


async def cancel(task_id: str, key_id: str, *, worker: str, retention_s: float, lease_s: float) -> TaskRecord:
    """Cancel a queued or running task of `key_id`: 404 when it is not theirs, 409 when it already ended."""
    found = await get(task_id, key_id)
    if found is None:
        raise NotFoundError(f"No task '{task_id}'")
    if found.status in ACTIVE:
        values = _finish_values("cancelled", retention_s, found.webhook_url is not None, worker, lease_s)
        rows = (
            await TaskRow.update(values)
            .where((TaskRow.id == task_id) & TaskRow.status.is_in(list(ACTIVE)))
            .returning(*TaskRow.all_columns())
            .run()
        )
        if rows:
            return _record(rows[0])
        found = await get(task_id, key_id) or found
    raise ConflictError(f"Task '{task_id}' has already {found.status}; only a queued or running task can be cancelled")


async def release(worker: str) -> None:
    """Give every task `worker` still holds back to the queue (graceful shutdown, after its runs ended).

    All of them, not only the runs it knows of: a claim cancelled by the shutdown may have committed
    in the database before the cancellation reached it, and that row would wait out its lease.
    The interrupted run does not count as an attempt.
    """
    await (
        TaskRow.update(
            {
                TaskRow.status: "queued",
                TaskRow.locked_by: None,
                TaskRow.locked_until: None,
                TaskRow.attempts: TaskRow.attempts - 1,
            }
        )
        .where((TaskRow.locked_by == worker) & (TaskRow.status == "running"))
        .run()
    )


async def expired_leases() -> list[TaskRecord]:
    """Running tasks whose holder stopped renewing its lease (it crashed or was killed)."""
    rows = await TaskRow.select().where((TaskRow.status == "running") & (TaskRow.locked_until < _now())).run()
    return [_record(r) for r in rows]


def _lapsed(task_id: str) -> Any:
    return (TaskRow.id == task_id) & (TaskRow.status == "running") & (TaskRow.locked_until < _now())


async def requeue_expired(task_id: str) -> bool:
    """Put an interrupted task back in the queue, unless someone else already did."""
    rows = (
        await TaskRow.update({TaskRow.status: "queued", TaskRow.locked_by: None, TaskRow.locked_until: None})
        .where(_lapsed(task_id))
        .returning(TaskRow.id)
        .run()
    )
    return bool(rows)


async def fail_expired(
    task: TaskRecord, problem: dict[str, Any], *, worker: str, retention_s: float, lease_s: float
) -> TaskRecord | None:
    """Give up on a task interrupted too often; `worker` then owes its webhook."""
    values = _finish_values("failed", retention_s, task.webhook_url is not None, worker, lease_s)
    values[TaskRow.problem] = _json(problem)
    rows = await TaskRow.update(values).where(_lapsed(task.id)).returning(*TaskRow.all_columns()).run()
    return _record(rows[0]) if rows else None


async def claim_webhooks(worker: str, lease_s: float, limit: int = 20) -> list[TaskRecord]:
    """Finished tasks whose webhook delivery was abandoned by a crashed replica, now leased to `worker`."""
    now = _now()
    stale = (
        await TaskRow.select(TaskRow.id)
        .where(
            TaskRow.status.is_in(list(FINISHED)) & (TaskRow.webhook_status == "pending") & (TaskRow.locked_until < now)
        )
        .limit(limit)
        .run()
    )
    claimed: list[TaskRecord] = []
    for row in stale:
        rows = (
            await TaskRow.update({TaskRow.locked_by: worker, TaskRow.locked_until: now + timedelta(seconds=lease_s)})
            .where((TaskRow.id == row["id"]) & (TaskRow.webhook_status == "pending") & (TaskRow.locked_until < now))
            .returning(*TaskRow.all_columns())
            .run()
        )
        claimed.extend(_record(r) for r in rows)
    return claimed


async def finish_webhook(task_id: str, worker: str, outcome: str) -> None:
    """Record the delivery outcome (`delivered` or `failed`) and drop the delivery lease."""
    await (
        TaskRow.update({TaskRow.webhook_status: outcome, TaskRow.locked_by: None, TaskRow.locked_until: None})
        .where((TaskRow.id == task_id) & (TaskRow.locked_by == worker))
        .run()
    )


async def purge() -> int:
    """Delete finished tasks past their retention; returns how many went."""
    rows = (
        await TaskRow.delete()
        .where(TaskRow.status.is_in(list(FINISHED)) & (TaskRow.expires_at < _now()))
        .returning(TaskRow.id)
        .run()
    )
    return len(rows)


QUEUE_COUNT_CAP = 100_000
_COUNT_QUEUED = "SELECT count(*) AS n FROM (SELECT 1 FROM task WHERE status = 'queued' LIMIT {}) AS q"


async def count_queued(cap: int = QUEUE_COUNT_CAP) -> int:
    """Tasks waiting for a worker, on every replica, capped at `cap` so a flooded queue costs a bounded scan.

    For the metrics sampler only (off the request path); the status column is indexed.
    """
    rows = await TaskRow.raw(_COUNT_QUEUED, cap).run()
    return int(rows[0]["n"]) if rows else 0
