"""Fail fast while a shared counter store is down, and try it again after a short cool-down."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.limits.base import CounterStoreUnavailableError

__all__ = ["QUEUE_FACTOR", "OutageGate"]

T = TypeVar("T")

QUEUE_FACTOR = 10
"""A call may wait this many times the store's timeout for a free connection of its own pool."""

log = logging.getLogger("polyroute.limits")


class OutageGate:
    """Wraps every call to a remote store.

    After a failure, calls fail at once for `cooldown_s` instead of each waiting for a socket
    timeout; the first call after the cool-down tries the store again, so recovery is automatic.
    """

    def __init__(
        self,
        name: str,
        errors: tuple[type[BaseException], ...],
        *,
        cooldown_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._errors = errors
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._down_until = 0.0
        self.down = False

    def check(self) -> None:
        """Fail at once while the store is known to be down (also for a call that queued meanwhile)."""
        if self.down and self._clock() < self._down_until:
            raise CounterStoreUnavailableError(f"{self.name} is unreachable (retrying shortly)")

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        self.check()
        try:
            result = await call()
        except CounterStoreUnavailableError:
            raise
        except self._errors as exc:
            if not self.down:
                log.warning("%s unreachable: %s: %s", self.name, type(exc).__name__, exc)
            self.down = True
            self._down_until = self._clock() + self._cooldown_s
            raise CounterStoreUnavailableError(f"{self.name} is unreachable: {exc}") from exc
        if self.down:
            log.warning("%s reachable again", self.name)
            self.down = False
        return result
