"""The model catalog page's rows: GET /v1/models' model cards, filtered, with health badges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.api.inference.models import model_card
from app.gateway.resolve import model_allowed
from app.gateway.snapshot import CatalogSnapshot, KeyRecord
from app.health.scores import HealthRegistry
from app.ui_support.health_view import HealthBadge, health_badge

__all__ = ["CAPABILITIES", "CatalogFilter", "CatalogRow", "catalog_rows"]

CAPABILITIES = ("tools", "vision", "streaming", "reasoning")
_BEST = {"ok": 0, "muted": 1, "warn": 2, "bad": 3}


@dataclass(frozen=True, slots=True)
class CatalogFilter:
    q: str = ""
    provider: str = ""
    capability: str = ""
    kind: str = ""
    """`route`, `model` or blank."""


@dataclass(frozen=True, slots=True)
class CatalogRow:
    card: dict[str, Any]
    badge: HealthBadge
    providers: list[str]


def _matches(card: dict[str, Any], f: CatalogFilter) -> bool:
    providers = {t["provider"] for t in card["targets"]}
    if f.q and f.q.lower() not in card["id"].lower():
        return False
    if f.provider and f.provider not in providers:
        return False
    if f.kind and card["type"] != f.kind:
        return False
    return not f.capability or any(t["capabilities"].get(f.capability) for t in card["targets"])


def catalog_rows(
    snapshot: CatalogSnapshot, health: HealthRegistry, key: KeyRecord | None, f: CatalogFilter
) -> list[CatalogRow]:
    """Every routable full name (bare aliases left out), limited to what `key`'s plan allows when given."""
    rows = []
    for name, resolved in sorted(snapshot.models.items()):
        if name != resolved.name or (key is not None and not model_allowed(key, name)):
            continue
        card = model_card(resolved, snapshot, health)
        if not _matches(card, f):
            continue
        badges = [health_badge(health.snapshot(f"{t['provider']}/{t['model']}")) for t in card["targets"]]
        best = min(badges, key=lambda b: _BEST[b.kind], default=HealthBadge("unavailable", "bad", "no enabled target"))
        rows.append(CatalogRow(card, best, sorted({t["provider"] for t in card["targets"]})))
    return rows
