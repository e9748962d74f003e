"""The task-queue gauge's background count on SQLite and Postgres, and what it does while the database is away."""

from __future__ import annotations

import asyncio
import logging
import time
import warnings

import pytest

from app.db.engine import engine_for_url
from app.observability import lifecycle
from app.tasks import store
from tests.fakes.server import free_port
from tests.unit.tasks.conftest import task_db  # noqa: F401  # the migrated database per backend


async def _queue(n: int) -> list[str]:
    ids = []
    for _ in range(n):
        task = await store.create(
            key_id="key-a", endpoint="/v1/chat/completions", body={"model": "m"}, headers={}, webhook_url=None
        )
        ids.append(task.id)
    return ids


@pytest.mark.usefixtures("task_db")
async def test_count_follows_queued_rows_only() -> None:
    assert await store.count_queued() == 0
    ids = await _queue(4)
    assert await store.count_queued() == 4
    assert await store.count_queued(cap=3) == 3  # a flooded queue is counted up to the cap only
    claimed = await store.claim("worker-1", 30.0)  # running is no longer waiting
    assert claimed is not None and claimed.id == ids[0]
    await store.cancel(ids[1], "key-a", worker="worker-1", retention_s=60.0, lease_s=30.0)
    assert await store.count_queued() == 2


@pytest.mark.usefixtures("task_db")
async def test_gauge_keeps_its_last_count_while_the_database_is_away(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "_queued", lifecycle._QueuedTasks())
    await _queue(3)
    await lifecycle.count_queued_tasks()
    assert lifecycle._queued.value == 3
    live = store.TaskRow._meta.db
    # A real engine on a closed loopback port: every count is refused, as when the database is down.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # piccolo warns it cannot read the server's version: that is the point
        gone = engine_for_url(f"postgresql://u@127.0.0.1:{free_port()}/gone")
    monkeypatch.setattr(store.TaskRow._meta, "db", gone)
    with caplog.at_level(logging.WARNING, logger="polyroute.metrics"):
        for _ in range(3):
            await lifecycle.count_queued_tasks()
    assert lifecycle._queued.value == 3, "the gauge keeps the last count rather than dropping to 0"
    said = [r for r in caplog.records if "could not count queued tasks" in r.getMessage()]
    assert len(said) == 1, "one warning per outage, not one per interval"
    monkeypatch.setattr(store.TaskRow._meta, "db", live)  # the database comes back
    await _queue(1)
    await lifecycle.count_queued_tasks()
    assert lifecycle._queued.value == 4 and not lifecycle._queued.failing


@pytest.mark.usefixtures("task_db")
async def test_a_database_that_never_answers_does_not_freeze_the_count(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "_queued", lifecycle._QueuedTasks())
    monkeypatch.setattr(lifecycle, "TASK_COUNT_TIMEOUT_S", 0.5)
    await _queue(2)
    await lifecycle.count_queued_tasks()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)  # accepts, never says a word (a hung database); cancelled below

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # made on a refused port: piccolo's version check there fails fast
            silent = engine_for_url(f"postgresql://u@127.0.0.1:{free_port()}/hung")
        silent.config["dsn"] = f"postgresql://u@127.0.0.1:{port}/hung"  # type: ignore[attr-defined]
        monkeypatch.setattr(store.TaskRow._meta, "db", silent)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="polyroute.metrics"):
            await lifecycle.count_queued_tasks()
        assert time.monotonic() - started < 2.0
        assert lifecycle._queued.value == 2 and lifecycle._queued.failing
    finally:
        server.close()
