"""The usage queue with observers: every usage event, from the pipeline or the vendor passthrough, is seen once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from app.accounting.events import UsageEvent
from app.accounting.queue import UsageQueue
from app.observability.context import record_event
from app.observability.metrics import gateway_metrics

__all__ = ["ObservedUsageQueue", "Observer", "default_observers"]

log = logging.getLogger("polyroute.observability")
Observer = Callable[[UsageEvent], None]


class ObservedUsageQueue(UsageQueue):
    """A `UsageQueue` whose `put` also hands the event to each observer (metrics, the request's span and log)."""

    def __init__(self, *args: Any, observers: list[Observer] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.observers: list[Observer] = observers if observers is not None else []

    def put(self, event: UsageEvent) -> None:
        super().put(event)
        for observe in self.observers:
            try:
                observe(event)
            except Exception:  # an observer's bug must not fail the request it observes
                log.exception("usage observer %r failed", observe)


def default_observers() -> list[Observer]:
    """Prometheus counters, and the usage event on the current request (its access log and span)."""
    return [gateway_metrics().observe, record_event]
