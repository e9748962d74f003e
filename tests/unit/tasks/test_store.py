"""The task table's transitions on SQLite and Postgres: atomic claims, leases, cancel, recovery, retention."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.db.tables import TaskRow
from app.errors import ConflictError, NotFoundError
from app.tasks import store
from app.tasks.store import TaskRecord

LEASE = 30.0


async def _create(key_id: str = "key-a", webhook_url: str | None = None, model: str = "m") -> TaskRecord:
    return await store.create(
        key_id=key_id,
        endpoint="/v1/chat/completions",
        body={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        headers={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
        webhook_url=webhook_url,
    )


async def _expire_lease(task_id: str) -> None:
    past = datetime.now(UTC) - timedelta(seconds=5)
    await TaskRow.update({TaskRow.locked_until: past}).where(TaskRow.id == task_id).run()


async def _row(task_id: str) -> dict[str, Any]:
    row = await TaskRow.select().where(TaskRow.id == task_id).first().run()
    assert row is not None
    return row


async def test_create_round_trips_and_ids_sort_by_creation(task_db: str) -> None:
    first = await _create()
    second = await _create()
    assert first.id.startswith("task_") and first.id < second.id
    got = await store.get(first.id, "key-a")
    assert got is not None and got.status == "queued" and got.attempts == 0
    assert got.body["messages"] == [{"role": "user", "content": "hi"}]
    assert got.created_at is not None and got.created_at.tzinfo is not None
    assert await store.get(first.id, "key-b") is None  # another key sees nothing
    public = got.public()
    assert public["object"] == "task" and public["model"] == "m" and isinstance(public["created_at"], int)


async def test_one_task_many_concurrent_claimers_exactly_one_wins(task_db: str) -> None:
    task = await _create()
    results = await asyncio.gather(*(store.claim(f"worker-{i}", LEASE) for i in range(8)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].id == task.id and winners[0].status == "running" and winners[0].attempts == 1
    row = await _row(task.id)
    assert row["locked_by"] == f"worker-{results.index(winners[0])}"
    assert row["locked_until"] > datetime.now(UTC) + timedelta(seconds=LEASE - 5)


async def test_concurrent_claimers_drain_the_queue_each_task_once_oldest_first(task_db: str) -> None:
    ids = [(await _create()).id for _ in range(12)]

    async def claimer(name: str) -> list[str]:
        got: list[str] = []
        while (task := await store.claim(name, LEASE)) is not None:
            got.append(task.id)
        return got

    results = await asyncio.gather(*(claimer(f"w{i}") for i in range(4)))
    claimed = [task_id for got in results for task_id in got]
    assert sorted(claimed) == ids  # every task exactly once
    for got in results:
        assert got == sorted(got)  # each claimer took them oldest first
    for name, got in zip([f"w{i}" for i in range(4)], results, strict=True):
        for task_id in got:
            assert (await _row(task_id))["locked_by"] == name


async def test_only_the_lease_holder_completes(task_db: str) -> None:
    task = await _create(webhook_url="http://hooks.example/x")
    assert await store.claim("w1", LEASE) is not None
    kwargs: dict[str, Any] = {"result": {"ok": True}, "problem": None, "retention_s": 60, "lease_s": LEASE}
    assert await store.complete(task.id, "w2", status="succeeded", webhook=True, **kwargs) is None
    done = await store.complete(task.id, "w1", status="succeeded", webhook=True, **kwargs)
    assert done is not None and done.status == "succeeded" and done.result == {"ok": True}
    assert done.webhook_status == "pending" and done.finished_at is not None and done.expires_at is not None
    assert (await _row(task.id))["locked_by"] == "w1"  # still leased: the webhook is owed
    assert await store.complete(task.id, "w1", status="failed", webhook=True, **kwargs) is None  # only once
    await store.finish_webhook(task.id, "w1", "delivered")
    row = await _row(task.id)
    assert (row["webhook_status"], row["locked_by"], row["locked_until"]) == ("delivered", None, None)


async def test_heartbeat_extends_held_leases_and_reports_lost_ones(task_db: str) -> None:
    a, b = await _create(), await _create()
    assert await store.claim("w1", 2) is not None
    assert await store.claim("w1", 2) is not None
    before = (await _row(a.id))["locked_until"]
    assert await store.heartbeat("w1", LEASE) == {a.id, b.id}
    assert (await _row(a.id))["locked_until"] > before
    await store.cancel(b.id, "key-a", worker="w2", retention_s=60, lease_s=LEASE)
    assert await store.heartbeat("w1", LEASE) == {a.id}  # b was cancelled elsewhere
    assert await store.heartbeat("nobody", LEASE) == set()


async def test_cancel_rules(task_db: str) -> None:
    queued, running, done = await _create(), await _create(), await _create()
    await store.claim("w1", LEASE)  # takes `queued` (oldest)
    with pytest.raises(NotFoundError):
        await store.cancel(queued.id, "key-b", worker="w", retention_s=60, lease_s=LEASE)
    with pytest.raises(NotFoundError):
        await store.cancel("task_missing", "key-a", worker="w", retention_s=60, lease_s=LEASE)
    cancelled = await store.cancel(queued.id, "key-a", worker="w", retention_s=60, lease_s=LEASE)
    assert cancelled.status == "cancelled" and cancelled.webhook_status is None
    assert await store.claim("w1", LEASE) is not None  # `running`
    assert (
        await store.complete(
            running.id, "w1", status="succeeded", result={}, problem=None, webhook=False, retention_s=60, lease_s=LEASE
        )
        is not None
    )
    with pytest.raises(ConflictError):
        await store.cancel(running.id, "key-a", worker="w", retention_s=60, lease_s=LEASE)
    with pytest.raises(ConflictError):
        await store.cancel(queued.id, "key-a", worker="w", retention_s=60, lease_s=LEASE)
    assert (await store.cancel(done.id, "key-a", worker="w", retention_s=60, lease_s=LEASE)).status == "cancelled"
    assert await store.claim("w1", LEASE) is None  # nothing left to run


async def test_lapsed_leases_are_requeued_then_failed_after_max_attempts(task_db: str) -> None:
    task = await _create(webhook_url="http://hooks.example/x")
    for attempt in (1, 2):
        claimed = await store.claim("w1", LEASE)
        assert claimed is not None and claimed.attempts == attempt
        assert await store.expired_leases() == []  # the lease is still alive
        await _expire_lease(task.id)
        assert [t.id for t in await store.expired_leases()] == [task.id]
        assert await store.requeue_expired(task.id)
        assert not await store.requeue_expired(task.id)  # a second reaper finds nothing
    assert (await store.claim("w1", LEASE)) is not None
    await _expire_lease(task.id)
    [expired] = await store.expired_leases()
    assert expired.attempts == 3
    problem = {"status": 503, "code": "SERVICE_UNAVAILABLE"}
    failed = await store.fail_expired(expired, problem, worker="reaper", retention_s=60, lease_s=LEASE)
    assert failed is not None and failed.status == "failed" and failed.problem == problem
    assert failed.webhook_status == "pending" and (await _row(task.id))["locked_by"] == "reaper"
    assert await store.fail_expired(expired, problem, worker="other", retention_s=60, lease_s=LEASE) is None


async def test_a_dead_replicas_webhook_is_claimed_by_one_other(task_db: str) -> None:
    task = await _create(webhook_url="http://hooks.example/x")
    await store.claim("dead", LEASE)
    await store.complete(
        task.id, "dead", status="succeeded", result={}, problem=None, webhook=True, retention_s=60, lease_s=LEASE
    )
    assert await store.claim_webhooks("w2", LEASE) == []  # the lease is alive
    await _expire_lease(task.id)
    results = await asyncio.gather(store.claim_webhooks("w2", LEASE), store.claim_webhooks("w3", LEASE))
    assert sorted(len(r) for r in results) == [0, 1]
    assert [t.id for r in results for t in r] == [task.id]


async def test_release_requeues_without_counting_the_attempt(task_db: str) -> None:
    task = await _create()
    await store.claim("w1", LEASE)
    await store.release("w2")  # not theirs
    assert (await _row(task.id))["status"] == "running"
    await store.release("w1")
    row = await _row(task.id)
    assert (row["status"], row["attempts"], row["locked_by"]) == ("queued", 0, None)


async def test_release_requeues_every_running_task_of_the_worker_and_nothing_else(task_db: str) -> None:
    """Shutdown may have cancelled a claim whose row was already taken: that row must come back too."""
    mine = [await _create(), await _create()]
    theirs = await _create()
    done = await _create(webhook_url="http://hooks.example/x")
    for worker in ("w1", "w1", "w2", "w1"):
        await store.claim(worker, LEASE)
    await store.complete(
        done.id, "w1", status="succeeded", result={}, problem=None, webhook=True, retention_s=60, lease_s=LEASE
    )
    await store.release("w1")
    assert [(await _row(t.id))["status"] for t in mine] == ["queued", "queued"]
    assert (await _row(theirs.id))["locked_by"] == "w2"
    finished = await _row(done.id)  # its webhook is still owed by w1
    assert (finished["status"], finished["locked_by"]) == ("succeeded", "w1")


async def test_list_pages_newest_first_filters_by_status_and_owner(task_db: str) -> None:
    ids = [(await _create()).id for _ in range(5)]
    await _create(key_id="key-b")
    await store.claim("w1", LEASE)  # the oldest starts running
    page, more = await store.list_tasks("key-a", status=None, limit=2, after=None)
    assert [t.id for t in page] == [ids[4], ids[3]] and more
    page, more = await store.list_tasks("key-a", status=None, limit=2, after=ids[3])
    assert [t.id for t in page] == [ids[2], ids[1]] and more
    page, more = await store.list_tasks("key-a", status=None, limit=2, after=ids[1])
    assert [t.id for t in page] == [ids[0]] and not more
    running, _ = await store.list_tasks("key-a", status="running", limit=10, after=None)
    assert [t.id for t in running] == [ids[0]]


async def test_purge_deletes_only_finished_tasks_past_retention(task_db: str) -> None:
    old, fresh, active = await _create(), await _create(), await _create()
    for task in (old, fresh):
        await store.cancel(task.id, "key-a", worker="w", retention_s=3600, lease_s=LEASE)
    past = datetime.now(UTC) - timedelta(seconds=1)
    await TaskRow.update({TaskRow.expires_at: past}).where(TaskRow.id.is_in([old.id, active.id])).run()
    assert await store.purge() == 1
    assert await store.get(old.id, None) is None
    assert await store.get(fresh.id, None) is not None and await store.get(active.id, None) is not None
