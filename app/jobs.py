"""Scheduled jobs that shutdown waits for instead of cancelling.

APScheduler's asyncio executor cancels every running job on `shutdown`, whatever `wait` says. A
usage flush cancelled inside its COMMIT left its Postgres connection unreleased, and the final
flush then hung until granian killed the worker. Each job therefore runs as a task of its own that
the scheduler can only stop waiting for; `drain` waits for those tasks, bounded.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["ShieldedJobs"]


class ShieldedJobs:
    def __init__(self) -> None:
        self._running: set[asyncio.Task[Any]] = set()

    def wrap(self, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[None]]:
        @functools.wraps(fn)  # the scheduler names jobs and logs after the function
        async def run(*args: Any) -> None:
            task: asyncio.Task[Any] = asyncio.ensure_future(fn(*args))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                return  # the scheduler is shutting down: the job runs on, and `drain` waits for it

        return run

    async def drain(self, timeout_s: float) -> None:
        """Wait (at most `timeout_s`) for the jobs still running."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout_s)
