"""Notices that are not about a limit: keys about to expire, and yesterday's usage report.

Pure functions of the catalog's keys and a day's rollup rows; the job raises what they return.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.catalog.store import rfc3339
from app.gateway.snapshot import KeyRecord

__all__ = ["DayTotals", "daily_report", "expiring_keys"]


def expiring_keys(keys: Iterable[KeyRecord], now: float, within_days: float) -> list[tuple[str, dict[str, Any]]]:
    """(dedup, payload without id/created_at) for each key that expires within `within_days`; a new
    expiry date (the key was extended) is a new notice."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    horizon = now + within_days * 86400
    for key in keys:
        if key.expires_at is None or not now < key.expires_at <= horizon or key.id in out:
            continue
        days = (key.expires_at - now) / 86400
        when = f"in {days:.1f} days" if days >= 1 else f"in {days * 24:.0f} hours"
        out[key.id] = (
            f"key.expiring:{key.id}:{int(key.expires_at)}",
            {
                "type": "key.expiring",
                "key": {"id": key.id, "name": key.name, "prefix": key.prefix, "user_id": key.user_id},
                "plan": key.plan.name if key.plan else None,
                "expires_at": rfc3339(key.expires_at),
                "message": f"Key '{key.name}' ({key.prefix}) expires {when} ({rfc3339(key.expires_at)}); "
                "rotate or extend it before its callers get 401",
            },
        )
    return list(out.values())


@dataclass(frozen=True, slots=True)
class DayTotals:
    """One rollup group of a day: a key or a model, with what it did."""

    name: str
    requests: int
    errors: int
    tokens: int
    cost_usd: float


def daily_report(
    day: date, by_key: Iterable[DayTotals], by_model: Iterable[DayTotals], top: int = 5
) -> dict[str, Any] | None:
    """Yesterday in one notice: totals, and the keys and models that cost most. None for a day with no requests."""
    keys, models = list(by_key), list(by_model)
    requests = sum(k.requests for k in keys)
    if requests == 0:
        return None
    errors = sum(k.errors for k in keys)
    cost = sum(k.cost_usd for k in keys)
    tokens = sum(k.tokens for k in keys)

    def ranked(rows: list[DayTotals]) -> list[Mapping[str, Any]]:
        best = sorted(rows, key=lambda r: (-r.cost_usd, -r.requests, r.name))[:top]
        return [{"name": r.name, "requests": r.requests, "cost_usd": round(r.cost_usd, 6)} for r in best]

    return {
        "type": "report.daily",
        "day": day.isoformat(),
        "requests": requests,
        "errors": errors,
        "tokens": tokens,
        "cost_usd": round(cost, 6),
        "top_keys": ranked(keys),
        "top_models": ranked(models),
        "message": (
            f"Polyroute on {day.isoformat()}: {requests:,} requests ({errors / requests:.1%} errors), "
            f"{tokens:,} tokens, ${cost:,.2f}"
        ),
    }
