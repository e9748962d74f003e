"""Calls in flight per provider, for providers with a `max_concurrent` cap (per worker process).

A call holds a slot from before its request is sent until its answer is read to the end or dropped
(a stream: until it ends). A caller that finds every slot taken waits its turn, first come first
served: a freed slot goes straight to the longest waiter, so a steady stream of new callers cannot
starve it. The attempt loop asks `full` first and tries another candidate rather than wait.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["ProviderSlots"]


class ProviderSlots:
    """Counts per provider name; all methods run on the event loop."""

    def __init__(self) -> None:
        self._busy: dict[str, int] = {}
        self._limit: dict[str, int] = {}
        self._waiters: dict[str, deque[asyncio.Future[None]]] = {}

    def busy(self, name: str) -> int:
        return self._busy.get(name, 0)

    def waiting(self, name: str) -> int:
        return sum(1 for turn in self._waiters.get(name, ()) if not turn.done())

    def full(self, name: str, limit: int | None) -> bool:
        return limit is not None and (self._busy.get(name, 0) >= limit or bool(self._waiters.get(name)))

    async def take(self, name: str, limit: int, timeout: float | None) -> None:
        """A slot, waiting up to `timeout` seconds for one (TimeoutError); give it back with `give`."""
        self._limit[name] = limit  # the latest cap: a lowered one drains as calls finish
        busy = self._busy.get(name, 0)
        if busy < limit and not self._waiters.get(name):
            self._busy[name] = busy + 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(name, deque()).append(turn)
        self._hand_out(name, busy)  # a raised cap may have room for the queue already
        try:
            await asyncio.wait_for(asyncio.shield(turn), timeout)
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.give(name)  # handed a slot in the same instant the wait ended: pass it on
            else:
                turn.cancel()
                self._hand_out(name, self._busy.get(name, 0))
            raise

    def give(self, name: str) -> None:
        """Return a slot; the longest waiter gets it if the cap has room."""
        self._hand_out(name, self._busy.get(name, 0) - 1)

    def _hand_out(self, name: str, busy: int) -> None:
        """Free slots to waiters in arrival order (a waiter that gave up is dropped), then store the count."""
        waiters = self._waiters.get(name)
        if waiters is not None:
            limit = self._limit.get(name, 0)
            while waiters and (busy < limit or waiters[0].done()):
                turn = waiters.popleft()
                if not turn.done():
                    turn.set_result(None)
                    busy += 1
            if not waiters:
                del self._waiters[name]
        if busy > 0:
            self._busy[name] = busy
        else:
            self._busy.pop(name, None)
