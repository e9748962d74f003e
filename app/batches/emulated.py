"""An emulated batch: every line is a task on the task runner, at most `concurrency` of one batch at once.

Each line runs through the real pipeline in-process as the batch owner's key (the task runner's
`execute`), so any routable model can be batched and every line is limited, routed, retried and
accounted like a direct call. The task rows are the durable part: a line's task survives a
restart (the runner requeues it), and this step only records finished tasks into their lines,
removes those task rows, and tops the window up from the pending lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from app.batches import store
from app.batches.lines import http_error
from app.batches.store import BatchRecord, LineRecord
from app.db.tables import TaskRow
from app.errors import AuthenticationError, ConflictError, NotFoundError
from app.gateway.snapshot import KeyRecord
from app.tasks.store import ACTIVE as TASK_ACTIVE
from app.tasks.store import FINISHED, TaskRecord

__all__ = ["EmulatedBatches", "TaskQueue"]


class TaskQueue(Protocol):
    """What a batch needs of the task runner (`TaskRunner` is one)."""

    async def enqueue(
        self,
        key: KeyRecord,
        endpoint: str,
        body: dict[str, Any],
        headers: Mapping[str, str],
        webhook_url: str | None,
    ) -> TaskRecord: ...

    async def cancel(self, task_id: str, key_id: str) -> TaskRecord: ...


def _load(value: Any) -> Any:
    if isinstance(value, str | bytes):
        return msgspec.json.decode(value) if value else None
    return value


async def _tasks(ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    rows = (
        await TaskRow.select(TaskRow.id, TaskRow.status, TaskRow.result, TaskRow.problem)
        .where(TaskRow.id.is_in(ids))
        .run()
    )
    return {r["id"]: r for r in rows}


def _outcome(task: dict[str, Any]) -> dict[str, Any]:
    """A finished task -> the line's columns."""
    request_id = task["id"]
    if task["status"] == "succeeded":
        return {"status": "succeeded", "status_code": 200, "request_id": request_id, "response": _load(task["result"])}
    problem = _load(task["problem"])
    if task["status"] == "failed" and isinstance(problem, dict):
        status = int(problem.get("status") or 500)
        body = {"error": problem.get("error") or {"message": problem.get("detail"), "code": problem.get("code")}}
        return {"status": "failed", "status_code": status, "request_id": request_id, "response": body}
    error = {"code": "cancelled", "message": "The line's task was cancelled before it finished"}
    return {"status": "failed", "request_id": request_id, "error": error}


@dataclass(slots=True)
class EmulatedBatches:
    queue: TaskQueue
    concurrency: int

    async def step(self, batch: BatchRecord, key: KeyRecord | None, *, stopping: bool) -> bool:
        """Record finished lines, keep the window full (or, `stopping`, cancel what runs);
        True once no line is running and none will be started."""
        running = await store.lines(batch.id, "running")
        still = await self._harvest(running)
        if stopping:
            return not await self._cancel(still, batch.key_id)
        room = max(1, self.concurrency) - len(still)
        if room <= 0:
            return False
        pending = await store.lines(batch.id, "pending", limit=room)
        for line in pending:
            await self._start(batch, line, key)
        return not still and not pending

    async def _harvest(self, running: list[LineRecord]) -> list[LineRecord]:
        """Lines whose task is still queued or running; the others are recorded now."""
        tasks = await _tasks([line.task_id for line in running if line.task_id])
        still: list[LineRecord] = []
        done: list[str] = []
        for line in running:
            task = tasks.get(line.task_id or "")
            if task is None:
                # The task row is gone (purged while we were down): run the line again.
                await store.set_line(line.id, {"status": "pending", "task_id": None})
            elif task["status"] in TASK_ACTIVE:
                still.append(line)
            else:
                await store.set_line(line.id, _outcome(task))
                done.append(task["id"])
        if done:
            await TaskRow.delete().where(TaskRow.id.is_in(done) & TaskRow.status.is_in(list(FINISHED))).run()
        return still

    async def _cancel(self, still: list[LineRecord], key_id: str) -> list[LineRecord]:
        """Cancel running lines; those that finished first are recorded at the next step."""
        left: list[LineRecord] = []
        cancelled: list[str] = []
        for line in still:
            try:
                await self.queue.cancel(line.task_id or "", key_id)
            except ConflictError:
                left.append(line)  # it ended first: harvested next time
                continue
            except NotFoundError:
                pass
            await store.set_line(line.id, {"status": "cancelled"})
            cancelled.append(line.task_id or "")
        if cancelled:
            await TaskRow.delete().where(TaskRow.id.is_in(cancelled) & TaskRow.status.is_in(list(FINISHED))).run()
        return left

    async def _start(self, batch: BatchRecord, line: LineRecord, key: KeyRecord | None) -> None:
        if key is None or line.body is None:
            status, body = http_error(AuthenticationError("The API key that created this batch was revoked"))
            await store.set_line(line.id, {"status": "failed", "status_code": status, "response": body})
            return
        task = await self.queue.enqueue(key, batch.endpoint, line.body, {}, None)
        await store.set_line(line.id, {"status": "running", "task_id": task.id, "attempts": line.attempts + 1})
