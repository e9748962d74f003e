"""Health snapshots as badges: one per target, and the worst of them per provider."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.health.scores import HealthRegistry
from strategies.base import HealthSnapshot

__all__ = ["HealthBadge", "TargetHealthRow", "health_badge", "provider_health", "target_rows"]

DEGRADED_ERROR_RATE = 0.2
"""The same threshold GET /v1/models uses to call a target degraded."""

_RANK = {"bad": 3, "warn": 2, "ok": 1, "muted": 0}


@dataclass(frozen=True, slots=True)
class HealthBadge:
    label: str
    kind: str
    """Badge class: ok, warn, bad or muted."""
    detail: str


def _speed(snapshot: HealthSnapshot) -> str:
    speed = snapshot.speed_ms
    return f"{speed:.0f} ms" if speed is not None else "no timing yet"


def health_badge(snapshot: HealthSnapshot) -> HealthBadge:
    errors = f"{snapshot.error_rate * 100:.0f}% errors"
    if snapshot.breaker == "open":
        return HealthBadge("down", "bad", f"breaker open after {snapshot.consecutive_failures} failures")
    if snapshot.breaker == "half-open":
        return HealthBadge("recovering", "warn", "breaker half-open: a trial request decides")
    if snapshot.samples == 0:
        return HealthBadge("no traffic", "muted", "no requests or probes recorded yet")
    if snapshot.error_rate > DEGRADED_ERROR_RATE:
        return HealthBadge("degraded", "warn", f"{errors}, {_speed(snapshot)}")
    return HealthBadge("healthy", "ok", f"{errors}, {_speed(snapshot)}")


@dataclass(frozen=True, slots=True)
class TargetHealthRow:
    key: str
    """`provider/model`."""
    snapshot: HealthSnapshot
    badge: HealthBadge


def target_rows(health: HealthRegistry, keys: Iterable[str] | None = None) -> list[TargetHealthRow]:
    chosen = sorted(set(keys)) if keys is not None else health.keys()
    rows = []
    for key in chosen:
        snapshot = health.snapshot(key)
        rows.append(TargetHealthRow(key, snapshot, health_badge(snapshot)))
    return rows


def provider_health(health: HealthRegistry, provider: str, models: Iterable[str]) -> HealthBadge:
    """The worst badge among the provider's models (configured or seen in traffic)."""
    seen = health.keys()
    keys = {f"{provider}/{m}" for m in models} | {k for k in seen if k.startswith(f"{provider}/")}
    badges = [r.badge for r in target_rows(health, keys)]
    if not badges:
        return HealthBadge("no traffic", "muted", "no models configured")
    worst = max(badges, key=lambda b: _RANK[b.kind])
    if worst.kind == "muted" or len(badges) == 1:
        return worst
    affected = sum(1 for b in badges if b.kind == worst.kind)
    return HealthBadge(worst.label, worst.kind, f"{affected} of {len(badges)} models {worst.label}: {worst.detail}")
