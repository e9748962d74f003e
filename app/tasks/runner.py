"""The task worker pool: claim queued rows, run them in-process, keep their leases alive, recover the lost.

One runner per process. A dispatcher claims a row whenever one of `task_workers` slots is free
(woken at once by a local enqueue, otherwise every `task_poll_s`); a heartbeat renews every lease
this process holds every third of `task_lease_s`, and cancels a local run whose row it no longer
holds (cancelled on another replica, or reaped). `maintain` (at start, then on the scheduler)
requeues rows whose lease lapsed, fails them after `task_max_attempts`, picks up webhooks a dead
replica owed, and deletes finished rows past their retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx
import msgspec

from app.db.quiet import Watch
from app.errors import InternalError, ServiceUnavailableError
from app.gateway.snapshot import CatalogSnapshot, KeyRecord
from app.settings import Settings
from app.tasks import store
from app.tasks.execute import EndpointSpec, Handle, Outcome, execute, problem_of
from app.tasks.outbound import outbound_client
from app.tasks.poller import Poller
from app.tasks.store import TaskRecord
from app.tasks.submit import kept_headers
from app.tasks.webhooks import WebhookSender, webhook_secret

__all__ = ["TaskRunner"]

log = logging.getLogger("polyroute.tasks")


class SnapshotSource(Protocol):
    @property
    def snapshot(self) -> CatalogSnapshot: ...


def _worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{os.urandom(4).hex()}"


class TaskRunner:
    """Runs tasks for this process; `enqueue` and `cancel` are what the HTTP surface calls."""

    def __init__(
        self,
        settings: Settings,
        *,
        handle: Handle,
        catalog: SnapshotSource,
        endpoints: Callable[[str], EndpointSpec | None],
        watch: Watch | None = None,
    ) -> None:
        self.settings = settings
        self._watch = watch or Watch(None, 0)
        self.worker_id = _worker_id()
        self._handle = handle
        self._catalog = catalog
        self._endpoints = endpoints
        self._secret = webhook_secret(settings)
        self._lease = settings.task_lease_s
        self._running: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(max(1, settings.task_workers))
        self._stopping = False
        self._last_beat = time.monotonic()
        self._client: httpx.AsyncClient | None = None
        self.webhooks: WebhookSender | None = None
        self.poller: Poller | None = None

    @property
    def maintain_interval_s(self) -> float:
        return max(0.5, self._lease / 2)

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self, scheduler: Any = None) -> None:
        """Recover what a previous process left, start the loops, and schedule `maintain`."""
        self._client = outbound_client(timeout=10.0, follow_redirects=False)
        s = self.settings
        self.webhooks = WebhookSender(self._client, self._secret, s.webhook_max_attempts, s.webhook_backoff_s)
        self.poller = Poller(self._client)
        self._last_beat = time.monotonic()
        await self.maintain()
        self._loops.append(asyncio.create_task(self._heartbeat(), name="tasks-heartbeat"))
        if s.task_workers > 0:
            self._loops.append(asyncio.create_task(self._dispatch(), name="tasks-dispatch"))
        if scheduler is not None:
            interval = self.maintain_interval_s
            scheduler.add_job(self.maintain, "interval", seconds=interval, max_instances=1, coalesce=True)

    async def stop(self, timeout: float) -> None:
        """Stop claiming, let running tasks finish for up to `timeout`, requeue the rest."""
        self._stopping = True
        dispatch = [t for t in self._loops if t.get_name() == "tasks-dispatch"]
        await _cancel(dispatch)
        if self._running:
            await asyncio.wait(list(self._running.values()), timeout=timeout)
        await _cancel(list(self._running.values()))
        try:
            await store.release(self.worker_id)
        except Exception:
            log.exception("could not requeue the interrupted tasks; their leases will lapse")
        await _cancel([*self._loops, *self._background])
        if self._client is not None:
            await self._client.aclose()

    # -- what the API calls ------------------------------------------------------------------------
    async def enqueue(
        self,
        key: KeyRecord,
        endpoint: str,
        body: dict[str, Any],
        headers: Mapping[str, str],
        webhook_url: str | None,
    ) -> TaskRecord:
        task = await store.create(
            key_id=key.id, endpoint=endpoint, body=body, headers=kept_headers(headers), webhook_url=webhook_url
        )
        self._wake.set()
        return task

    async def cancel(self, task_id: str, key_id: str) -> TaskRecord:
        """Cancel the task (404 / 409 from the store); a local run stops now, a remote one at its next heartbeat."""
        task = await store.cancel(
            task_id, key_id, worker=self.worker_id, retention_s=self._retention, lease_s=self._lease
        )
        run = self._running.get(task_id)
        if run is not None:
            run.cancel()
        if task.webhook_status == "pending":
            self._deliver(task)
        return task

    @property
    def _retention(self) -> float:
        return self.settings.task_retention_s

    # -- the loops -------------------------------------------------------------------------------
    async def _dispatch(self) -> None:
        while not self._stopping:
            await self._slots.acquire()
            woken = self._wake.is_set()
            self._wake.clear()
            try:
                # A local enqueue wakes us; otherwise claim only if something was committed meanwhile.
                task = await store.claim(self.worker_id, self._lease) if woken or self._watch.moved() else None
            except Exception:
                log.exception("claiming a task failed")
                task = None
            if task is None:
                self._slots.release()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.task_poll_s)
                continue
            run = asyncio.create_task(self._run(task), name=f"task-{task.id}")
            self._running[task.id] = run
            run.add_done_callback(functools.partial(self._finished, task.id))

    def _finished(self, task_id: str, _: asyncio.Task[None]) -> None:
        self._running.pop(task_id, None)
        self._slots.release()

    async def _run(self, task: TaskRecord) -> None:
        try:
            outcome = await execute(
                task,
                handle=self._handle,
                snapshot=self._catalog.snapshot,
                endpoint=self._endpoints(task.endpoint),
                poller=self.poller,
            )
        except Exception as exc:
            log.exception("task %s crashed", task.id, exc_info=exc)
            outcome = Outcome("failed", problem=problem_of(InternalError("The task hit an unexpected error")))
        done = await store.complete(
            task.id,
            self.worker_id,
            status=outcome.status,
            result=outcome.result,
            problem=outcome.problem,
            webhook=task.webhook_url is not None,
            retention_s=self._retention,
            lease_s=self._lease,
        )
        if done is None:
            log.info("task %s finished after its lease was lost or it was cancelled; result dropped", task.id)
        elif done.webhook_status == "pending":
            self._deliver(done)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            held = list(self._running)
            try:
                owned = await store.heartbeat(self.worker_id, self._lease)
            except Exception:
                log.exception("task lease heartbeat failed")
                if time.monotonic() - self._last_beat > self._lease:
                    owned = set()  # our leases have lapsed: another replica may run these now
                else:
                    continue
            else:
                self._last_beat = time.monotonic()
            for task_id in held:
                run = self._running.get(task_id)
                if task_id not in owned and run is not None:
                    log.info("task %s is no longer ours (cancelled or reclaimed); stopping its run", task_id)
                    run.cancel()

    # -- recovery, cleanup, webhooks -------------------------------------------------------------------
    async def maintain(self) -> None:
        """Requeue (or give up on) interrupted tasks, redeliver orphaned webhooks, purge expired tasks."""
        try:
            await self._reap()
            for task in await store.claim_webhooks(self.worker_id, self._lease):
                self._deliver(task)
            purged = await store.purge()
            if purged:
                log.info("deleted %d finished tasks past their retention", purged)
        except Exception:
            log.exception("task maintenance failed")

    async def _reap(self) -> None:
        limit = self.settings.task_max_attempts
        for task in await store.expired_leases():
            if task.attempts < limit:
                if await store.requeue_expired(task.id):
                    log.warning("task %s was interrupted (attempt %d of %d); requeued", task.id, task.attempts, limit)
                    self._wake.set()
                continue
            error = ServiceUnavailableError(f"The task was interrupted {task.attempts} times and was given up")
            failed = await store.fail_expired(
                task, problem_of(error), worker=self.worker_id, retention_s=self._retention, lease_s=self._lease
            )
            if failed is not None and failed.webhook_status == "pending":
                self._deliver(failed)

    def _deliver(self, task: TaskRecord) -> None:
        job = asyncio.create_task(self._send_webhook(task), name=f"webhook-{task.id}")
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    async def _send_webhook(self, task: TaskRecord) -> None:
        if self.webhooks is None or task.webhook_url is None:
            return
        body = msgspec.json.encode(task.public())
        delivery = await self.webhooks.deliver(task.webhook_url, body, ref=task.id)
        try:
            await store.finish_webhook(task.id, self.worker_id, delivery.outcome)
        except Exception:
            log.exception("could not record the webhook outcome of task %s", task.id)


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
