"""Scheduled jobs survive the scheduler's shutdown cancel, and drain waits for them."""

from __future__ import annotations

import asyncio

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.jobs import ShieldedJobs


async def test_a_job_running_at_shutdown_finishes_and_drain_waits_for_it() -> None:
    jobs = ShieldedJobs()
    started, finished = asyncio.Event(), []

    async def flush() -> None:  # stands for a usage flush in the middle of its COMMIT
        started.set()
        await asyncio.sleep(0.3)
        finished.append("committed")

    scheduler = AsyncIOScheduler()
    scheduler.add_job(jobs.wrap(flush), "interval", seconds=0.05, max_instances=1)
    scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    scheduler.shutdown(wait=False)  # APScheduler's asyncio executor cancels running jobs here
    await asyncio.sleep(0)
    assert finished == []
    await jobs.drain(5)
    assert finished == ["committed"]


async def test_drain_is_bounded() -> None:
    jobs = ShieldedJobs()
    never = asyncio.Event()
    runner = asyncio.ensure_future(jobs.wrap(never.wait)())
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await jobs.drain(0.2)
    assert 0.15 < loop.time() - start < 2
    never.set()
    await runner


def test_wrapped_jobs_keep_their_names() -> None:
    async def flush() -> None: ...

    assert ShieldedJobs().wrap(flush).__name__ == "flush"
