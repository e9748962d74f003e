"""An emulated batch on a real database: the window stays at the concurrency, tasks are harvested, leases hold."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import pytest

from app.batches import files, output, store
from app.batches.emulated import EmulatedBatches
from app.batches.lines import LineSpec
from app.catalog.specs import Limits
from app.db.tables import TaskRow
from app.errors import ConflictError, NotFoundError
from app.gateway.snapshot import KeyRecord
from app.tasks import store as tasks
from app.tasks.store import TaskRecord

KEY = KeyRecord(
    id="key-a", name="a", prefix="sk-poly-a", plan=None, allowed_models=None, limits=Limits(), expires_at=None
)


class Queue:
    """The task runner's surface, on the real task table; tests finish tasks by hand."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []

    async def enqueue(
        self, key: KeyRecord, endpoint: str, body: dict[str, Any], headers: Mapping[str, str], webhook_url: str | None
    ) -> TaskRecord:
        return await tasks.create(key_id=key.id, endpoint=endpoint, body=body, headers=dict(headers), webhook_url=None)

    async def cancel(self, task_id: str, key_id: str) -> TaskRecord:
        self.cancelled.append(task_id)
        return await tasks.cancel(task_id, key_id, worker="w", retention_s=60, lease_s=30)


async def _finish(task_id: str, *, ok: bool) -> None:
    values: dict[Any, Any] = {TaskRow.status: "succeeded" if ok else "failed"}
    if ok:
        values[TaskRow.result] = msgspec.json.encode({"id": task_id, "model": "p/m"}).decode()
    else:
        problem = {"status": 502, "code": "PROVIDER_ERROR", "error": {"message": "down", "code": "PROVIDER_ERROR"}}
        values[TaskRow.problem] = msgspec.json.encode(problem).decode()
    await TaskRow.update(values).where(TaskRow.id == task_id).run()


async def _batch(n: int) -> store.BatchRecord:
    file = await files.create(KEY.id, "in.jsonl", "batch", b"{}")
    batch = await store.create(
        key_id=KEY.id, endpoint="/v1/chat/completions", input_file_id=file.id, completion_window="24h", metadata=None
    )
    specs = [LineSpec(i, f"c{i}", {"model": "m", "messages": []}) for i in range(n)]
    await store.replace_lines(batch.id, specs, keep_valid=True)
    found = await store.update(batch.id, {"mode": "emulated", "status": "in_progress", "total": n})
    assert found is not None
    return found


async def test_window_and_harvest(batch_db: str) -> None:
    batch, queue = await _batch(5), Queue()
    runner = EmulatedBatches(queue, concurrency=2)
    assert not await runner.step(batch, KEY, stopping=False)
    running = await store.lines(batch.id, "running")
    assert [line.custom_id for line in running] == ["c0", "c1"]
    await _finish(running[0].task_id or "", ok=True)
    await _finish(running[1].task_id or "", ok=False)
    assert not await runner.step(batch, KEY, stopping=False)
    assert [line.custom_id for line in await store.lines(batch.id, "running")] == ["c2", "c3"]
    assert await TaskRow.count().where(TaskRow.status.is_in(["succeeded", "failed"])).run() == 0  # harvested
    while not await runner.step(batch, KEY, stopping=False):
        running = await store.lines(batch.id, "running")
        assert len(running) <= 2
        for line in running:
            await _finish(line.task_id or "", ok=True)
    assert await store.count_lines(batch.id) == {"succeeded": 4, "failed": 1}
    done = await output.finalize(batch, "completed")
    assert done is not None and done.status == "completed" and (done.completed, done.failed) == (4, 1)
    out = (await files.read(done.output_file_id or "", KEY.id) or b"").splitlines()
    assert [msgspec.json.decode(line)["custom_id"] for line in out] == ["c0", "c2", "c3", "c4"]
    err = msgspec.json.decode((await files.read(done.error_file_id or "", KEY.id) or b"").strip())
    assert err["response"]["status_code"] == 502 and err["response"]["body"]["error"]["message"] == "down"
    assert await output.finalize(batch, "completed") is None  # already finished: not ours to finish again


async def test_cancel_lost_tasks_and_revoked_key(batch_db: str) -> None:
    batch, queue = await _batch(3), Queue()
    runner = EmulatedBatches(queue, concurrency=2)
    await runner.step(batch, KEY, stopping=False)
    first, _ = await store.lines(batch.id, "running")
    await TaskRow.delete().where(TaskRow.id == first.task_id).run()  # purged while we were away
    await runner.step(batch, KEY, stopping=False)
    assert {line.custom_id for line in await store.lines(batch.id, "running")} == {"c0", "c1"}
    assert await runner.step(batch, KEY, stopping=True)
    assert len(queue.cancelled) == 2 and await store.count_lines(batch.id) == {"cancelled": 2, "pending": 1}
    await runner.step(batch, None, stopping=False)
    failed = await store.lines(batch.id, "failed")
    assert failed[0].status_code == 401


async def test_leases_and_cancel_rules(batch_db: str) -> None:
    batch = await _batch(1)
    assert [b.id for b in await store.claim("w1", 30)] == [batch.id]
    assert await store.claim("w2", 30) == []
    assert [b.id for b in await store.claim("w1", 30)] == [batch.id]  # renewed
    await store.release("w1")
    assert [b.id for b in await store.claim("w2", 30)] == [batch.id]
    with pytest.raises(NotFoundError):
        await store.request_cancel(batch.id, "key-b")
    assert (await store.request_cancel(batch.id, KEY.id)).status == "cancelling"
    assert (await store.request_cancel(batch.id, KEY.id)).status == "cancelling"
    assert await output.finalize(batch, "cancelled") is not None
    with pytest.raises(ConflictError):
        await store.request_cancel(batch.id, KEY.id)
    assert await store.claim("w3", 30) == []
