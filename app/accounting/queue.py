"""The in-memory usage queue: the hot path appends, the writer drains in batches."""

from __future__ import annotations

from collections import deque

from app.accounting.events import UsageEvent

__all__ = ["UsageQueue"]


class UsageQueue:
    """A deque: `put` never blocks and never awaits, so accounting costs the request nothing."""

    def __init__(self) -> None:
        self._items: deque[UsageEvent] = deque()
        self.total_put = 0

    def put(self, event: UsageEvent) -> None:
        self._items.append(event)
        self.total_put += 1

    def take(self, limit: int) -> list[UsageEvent]:
        items = self._items
        count = min(limit, len(items))
        return [items.popleft() for _ in range(count)]

    def requeue_front(self, events: list[UsageEvent]) -> None:
        """Put back a batch that failed to write, keeping order."""
        self._items.extendleft(reversed(events))

    def __len__(self) -> int:
        return len(self._items)
