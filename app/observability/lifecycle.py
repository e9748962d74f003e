"""Per-worker observability lifecycle: gauge sampling, OTel start and flush, multiprocess clean-up."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from app.observability import tracing
from app.observability.metrics import GaugeSources, gateway_metrics
from app.observability.multiproc import mark_worker_dead

if TYPE_CHECKING:
    from app.runtime import Runtime

__all__ = ["gauge_sources", "observability"]

SAMPLE_INTERVAL_S = 1.0


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
    )


async def _sample_forever(sources: GaugeSources) -> None:
    metrics = gateway_metrics()
    while True:
        metrics.sample(sources)
        await asyncio.sleep(SAMPLE_INTERVAL_S)


@asynccontextmanager
async def observability(rt: Runtime) -> AsyncIterator[None]:
    """Outermost lifespan: tracing is up before requests and flushed after the last one drained."""
    tracing.start(os.environ)
    sampler = asyncio.create_task(_sample_forever(gauge_sources(rt)), name="metrics-sampler")
    try:
        yield
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        if tracing.enabled():
            await asyncio.to_thread(tracing.shutdown)
        mark_worker_dead()
