"""Failed sign-in throttling per client address, in memory (argon2 already makes each guess slow)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["LoginThrottle"]


class LoginThrottle:
    """At most `limit` failures per `window_s` from one address; a success clears its record."""

    def __init__(self, limit: int = 10, window_s: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str) -> deque[float]:
        found = self._failures.get(client)
        if found is None:
            return deque()
        horizon = self._clock() - self.window_s
        while found and found[0] < horizon:
            found.popleft()
        if not found:
            del self._failures[client]
        return found

    def retry_after(self, client: str) -> float:
        """Seconds until the next attempt is allowed; 0 when it is allowed now."""
        recent = self._recent(client)
        if len(recent) < self.limit:
            return 0.0
        return max(1.0, recent[0] + self.window_s - self._clock())

    def failed(self, client: str) -> None:
        if len(self._failures) > 10_000:  # bounded memory under a spray of addresses
            self._failures.clear()
        self._failures.setdefault(client, deque()).append(self._clock())

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)
