"""Per-worker observability lifecycle: gauge sampling, OTel start and flush, multiprocess clean-up.

The task queue is a table every replica shares, so its depth is a query: a background loop
counts it every `TASK_COUNT_INTERVAL_S` and the gauge (sampler and /metrics scrape alike) reads
the last count, so neither a request nor a scrape waits on the database.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from app.observability import tracing
from app.observability.metrics import GaugeSources, gateway_metrics
from app.observability.multiproc import mark_worker_dead
from app.tasks import store as task_store

if TYPE_CHECKING:
    from app.runtime import Runtime

__all__ = ["gauge_sources", "observability"]

log = logging.getLogger("polyroute.metrics")

SAMPLE_INTERVAL_S = 1.0
TASK_COUNT_INTERVAL_S = 2.0
TASK_COUNT_TIMEOUT_S = 5.0


class _QueuedTasks:
    """The last count of queued tasks in this process (0 until the first count succeeds)."""

    value = 0
    failing = False


_queued = _QueuedTasks()


def gauge_sources(rt: Runtime) -> GaugeSources:
    """What the sampled gauges read in this worker."""
    health = rt.gateway.health

    def breakers() -> Iterator[tuple[str, str]]:
        targets: list[str] = health.keys()
        for key in targets:
            yield key, health.snapshot(key).breaker

    return GaugeSources(
        usage_queue_depth=lambda: len(rt.gateway.usage),
        usage_spool_pending=lambda: rt.writer.pending,
        usage_write_lag_s=lambda: rt.writer.last_flush_lag_s,
        breaker_states=breakers,
        inflight=lambda: rt.inflight.count,
        task_queue_depth=lambda: _queued.value,
        upstream_connections=rt.gateway.pool.open_connections,
        loop_tasks=_loop_tasks,
        provider_slots=lambda: [
            (p.name, rt.gateway.pool.slots.busy(p.name))
            for p in rt.catalog.snapshot.providers.values()
            if p.max_concurrent is not None
        ],
    )


def _loop_tasks() -> int:
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # no running loop (a scrape handled off the loop): nothing to count here
        return 0


async def count_queued_tasks() -> None:
    """One count into the gauge's holder; a failure (database away) keeps the last count."""
    try:
        # A database that hangs rather than refuses must not freeze the gauge's loop either.
        _queued.value = await asyncio.wait_for(task_store.count_queued(), TASK_COUNT_TIMEOUT_S)
    except Exception as exc:
        if not _queued.failing:  # once per outage, not every interval
            log.warning("could not count queued tasks; task_queue_depth keeps its last value: %r", exc)
        _queued.failing = True
    else:
        _queued.failing = False


async def _count_tasks_forever(rt: Runtime) -> None:
    while True:
        if rt.ready:  # the database is connected once the app's lifespan has started
            await count_queued_tasks()
        await asyncio.sleep(TASK_COUNT_INTERVAL_S)


async def _sample_forever(sources: GaugeSources) -> None:
    metrics = gateway_metrics()
    while True:
        metrics.sample(sources)
        await asyncio.sleep(SAMPLE_INTERVAL_S)


@asynccontextmanager
async def observability(rt: Runtime) -> AsyncIterator[None]:
    """Outermost lifespan: tracing is up before requests and flushed after the last one drained."""
    tracing.start(os.environ)
    loops = [
        asyncio.create_task(_sample_forever(gauge_sources(rt)), name="metrics-sampler"),
        asyncio.create_task(_count_tasks_forever(rt), name="metrics-task-count"),
    ]
    try:
        yield
    finally:
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        if tracing.enabled():
            await asyncio.to_thread(tracing.shutdown)
        mark_worker_dead()
