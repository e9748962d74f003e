"""The in-memory usage queue: the hot path appends, the writer drains in batches."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from app.accounting.events import UsageEvent

__all__ = ["UsageQueue"]


class UsageQueue:
    """A deque: `put` never blocks and never awaits, so accounting costs the request nothing.

    When `high_water` events are waiting, `put` calls `on_high_water` once (the writer starts
    an early flush), so batches go out by size as well as on the timer.
    """

    def __init__(self, high_water: int = 500) -> None:
        self._items: deque[UsageEvent] = deque()
        self.total_put = 0
        self.high_water = high_water
        self.on_high_water: Callable[[], None] | None = None

    def put(self, event: UsageEvent) -> None:
        self._items.append(event)
        self.total_put += 1
        if self.on_high_water is not None and len(self._items) == self.high_water:
            self.on_high_water()

    def take(self, limit: int) -> list[UsageEvent]:
        items = self._items
        count = min(limit, len(items))
        return [items.popleft() for _ in range(count)]

    def requeue_front(self, events: list[UsageEvent]) -> None:
        """Put back a batch that could not be journaled, keeping order."""
        self._items.extendleft(reversed(events))

    def __len__(self) -> int:
        return len(self._items)
