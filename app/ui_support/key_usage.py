"""Per-key figures for the key lists: usage this month, the last active day, today's remaining requests."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from app.accounting import queries
from app.accounting.queries import UsageFilter, UsageGroup
from app.gateway.snapshot import CatalogSnapshot, KeyRecord
from app.limits.admit import Limiter, effective_limits

__all__ = ["KeyFigures", "Quota", "key_figures", "month_start", "remaining_today"]


@dataclass(frozen=True, slots=True)
class Quota:
    limit: int
    used: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def share_used(self) -> float:
        return min(1.0, self.used / self.limit) if self.limit else 1.0


@dataclass(frozen=True, slots=True)
class KeyFigures:
    month: dict[str, UsageGroup]
    """key id -> requests, tokens and cost since the first of this month (UTC)."""


def month_start(now: float | None = None) -> datetime:
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


async def key_figures(scope: frozenset[str] | None, now: float | None = None) -> KeyFigures:
    """One rollup read for a whole list of keys (never one query per key)."""
    month = await queries.usage_summary(UsageFilter(start=month_start(now), scope=scope), ["key"])
    return KeyFigures({g.key_id: g for g in month if g.key_id is not None})


def _records_by_id(snapshot: CatalogSnapshot) -> dict[str, KeyRecord]:
    return {record.id: record for record in snapshot.keys.values()}


async def remaining_today(
    limiter: Limiter, snapshot: CatalogSnapshot, key_ids: list[str], extra: list[KeyRecord] | None = None
) -> dict[str, Quota]:
    """Today's request cap per key (effective limits: the key's own over its plan's) and what is used.

    Reads the limiter's own day counter, so the figure is the one admission enforces.
    """
    records = _records_by_id(snapshot)
    for known in extra or []:
        records[known.id] = known
    out: dict[str, Quota] = {}
    for key_id in key_ids:
        record = records.get(key_id)
        cap = effective_limits(record).daily_requests if record else None
        if cap is None:
            continue
        try:
            used = await limiter.requests_today(key_id)
        except (ConnectionError, OSError, TimeoutError):
            continue
        out[key_id] = Quota(limit=cap, used=used)
    return out
