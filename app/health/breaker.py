"""A circuit breaker with an injected clock: closed -> open -> half-open -> closed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

__all__ = ["CircuitBreaker"]

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Opens after `threshold` consecutive failures; after `cooldown_s` lets one trial through."""

    __slots__ = (
        "_clock",
        "_opened_at",
        "_trial_in_flight",
        "consecutive_failures",
        "cooldown_s",
        "opened_by_probe",
        "threshold",
    )

    def __init__(self, clock: Callable[[], float], threshold: int = 3, cooldown_s: float = 10.0) -> None:
        self._clock = clock
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.consecutive_failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self.opened_by_probe = False

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown_s:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        """May a request go to this target now? In half-open, only one trial at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        was_trial = self._trial_in_flight
        self._trial_in_flight = False
        if was_trial or self.consecutive_failures >= self.threshold:
            self._opened_at = self._clock()
            self.opened_by_probe = False

    def trip(self) -> None:
        """Open now (a failed probe is proof enough that nothing will answer)."""
        self._opened_at = self._clock()
        self._trial_in_flight = False
        self.opened_by_probe = True

    def end_cooldown(self) -> None:
        """Half-open now: the next request is the trial that decides (a probe saw the provider answer)."""
        if self._opened_at is not None:
            self._opened_at = min(self._opened_at, self._clock() - self.cooldown_s)

    def release(self) -> None:
        """A trial that ended without a verdict (cancelled) frees the half-open slot."""
        self._trial_in_flight = False
