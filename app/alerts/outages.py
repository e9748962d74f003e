"""Which provider outages a worker's health view raises: a target down (its breaker not closed) for
`after_s` raises `provider.down`; the same target closed again afterwards raises `provider.up`.

Each worker sees the targets it calls and probes; the alert table's unique `dedup` (the target and
the UTC hour the outage began) makes the workers that see one outage raise it once. A breaker that
opens and closes within `after_s` (three failed calls in a row, then fine) raises nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from app.catalog.store import rfc3339
from strategies.base import HealthSnapshot

__all__ = ["OutageAlert", "OutageWatch"]


@dataclass(frozen=True, slots=True)
class OutageAlert:
    kind: Literal["provider.down", "provider.up"]
    target: str
    """`provider/model`."""
    since: float
    """When this worker first saw the target down (Unix time)."""
    health: HealthSnapshot

    @property
    def dedup(self) -> str:
        hour = datetime.fromtimestamp(self.since, UTC).strftime("%Y%m%d%H")
        return f"{self.kind}:{self.target}:{hour}"

    def message(self, now: float) -> str:
        if self.kind == "provider.down":
            return (
                f"{self.target} is failing: its circuit breaker has been open for {now - self.since:.0f} s "
                f"({self.health.consecutive_failures} failures in a row, error rate {self.health.error_rate:.0%}); "
                "routes fall back to their other targets"
            )
        return f"{self.target} answers again after {now - self.since:.0f} s down"

    def payload(self, alert_id: str, now: float) -> dict[str, Any]:
        provider, _, model = self.target.partition("/")
        return {
            "id": alert_id,
            "object": "alert",
            "type": self.kind,
            "created_at": rfc3339(now),
            "provider": provider,
            "model": model,
            "down_since": rfc3339(self.since),
            "breaker": self.health.breaker,
            "error_rate": round(self.health.error_rate, 3),
            "consecutive_failures": self.health.consecutive_failures,
            "message": self.message(now),
        }


@dataclass
class OutageWatch:
    after_s: float
    _down: dict[str, tuple[float, bool]] = field(default_factory=dict)
    """target -> (first seen down, whether its `provider.down` was raised)."""

    def observe(self, health: Mapping[str, HealthSnapshot], now: float) -> list[OutageAlert]:
        alerts: list[OutageAlert] = []
        for target, snap in health.items():
            seen = self._down.get(target)
            if snap.breaker != "closed":
                if seen is None:
                    self._down[target] = (now, False)
                elif not seen[1] and now - seen[0] >= self.after_s:
                    self._down[target] = (seen[0], True)
                    alerts.append(OutageAlert("provider.down", target, seen[0], snap))
            elif seen is not None:
                del self._down[target]
                if seen[1]:
                    alerts.append(OutageAlert("provider.up", target, seen[0], snap))
        return alerts
