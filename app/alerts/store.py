"""Alerts in the database: spend per key, user and team since a day, raising an alert exactly once, listing them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

import msgspec
from piccolo.query.functions.aggregate import Sum

from app.alerts.notices import DayTotals
from app.db.paging import list_rows
from app.db.tables import AlertRow, UsageDailyRow

__all__ = [
    "Alert",
    "claim_stale",
    "day_totals",
    "finish",
    "list_alerts",
    "raise_once",
    "raised_since",
    "spend_by_team_since",
    "spend_by_user_since",
    "spend_since",
]


class AlertKey(msgspec.Struct):
    id: str
    name: str
    prefix: str
    user_id: str | None


class AlertUser(msgspec.Struct):
    id: str
    username: str


class AlertTeam(msgspec.Struct):
    id: str
    name: str


class AlertDelivery(msgspec.Struct):
    status: Literal["none", "pending", "resending", "delivered", "failed", "superseded"]
    """none: no webhook is configured; superseded: a higher threshold crossed in the same check was sent;
    resending: the worker that raised it stopped before it was delivered, and another is sending it."""
    attempts: int
    last_status: int | None
    """The receiver's last HTTP status; None when it was unreachable or nothing was sent."""


AlertType = Literal["budget.threshold", "provider.down", "provider.up", "key.expiring", "report.daily"]


class Alert(msgspec.Struct, kw_only=True):
    """The webhook's body, plus `delivery`. `budget.threshold`: a key's spend this UTC month (or day)
    crossed `threshold` x its monthly (daily) budget (`key`, `plan`, `window`, `month` or `day`,
    `threshold`, `spent_usd`, `budget_usd`).
    `provider.down` / `provider.up`: a target's breaker stayed open, or closed again (`provider`,
    `model`, `down_since`, `breaker`, `error_rate`, `consecutive_failures`). `key.expiring`: a key expires
    soon (`key`, `expires_at`). `report.daily`: yesterday's totals (`day`, `requests`, `errors`,
    `tokens`, `cost_usd`, `top_keys`, `top_models`)."""

    id: str
    object: Literal["alert"]
    type: AlertType
    created_at: str
    message: str
    delivery: AlertDelivery
    key: AlertKey | None = None
    user: AlertUser | None = None
    """A user's keys together passed a share of their plan's `user_limits` monthly or daily budget."""
    team: AlertTeam | None = None
    """A team's keys together passed a share of its `limits` monthly or daily budget."""
    plan: str | None = None
    window: Literal["month", "day"] | None = None
    """A budget alert's budget: monthly (`month` names it) or daily (`day`)."""
    month: str | None = None
    threshold: float | None = None
    spent_usd: float | None = None
    budget_usd: float | None = None
    provider: str | None = None
    model: str | None = None
    down_since: str | None = None
    breaker: str | None = None
    error_rate: float | None = None
    consecutive_failures: int | None = None
    expires_at: str | None = None
    day: str | None = None
    requests: int | None = None
    errors: int | None = None
    tokens: int | None = None
    cost_usd: float | None = None
    top_keys: list[dict[str, Any]] | None = None
    top_models: list[dict[str, Any]] | None = None


async def spend_since(first_day: date) -> dict[str, float]:
    """Key id -> cost of its calls since `first_day`, from the daily rollup (written with every usage batch)."""
    rows = await (
        UsageDailyRow.select(UsageDailyRow.key_id, Sum(UsageDailyRow.cost_usd).as_alias("spent"))
        .where((UsageDailyRow.day >= first_day) & UsageDailyRow.key_id.is_not_null())
        .group_by(UsageDailyRow.key_id)
        .run()
    )
    return {r["key_id"]: float(r["spent"] or 0.0) for r in rows}


_BY_USER = (
    "SELECT u.id AS user_id, u.username AS username, SUM(d.cost_usd) AS spent FROM usage_daily d"
    " JOIN api_key k ON k.id = d.key_id JOIN app_user u ON u.id = k.user_id"
    " WHERE d.day >= {} GROUP BY u.id, u.username"
)


async def spend_by_user_since(first_day: date) -> list[tuple[str, str, float]]:
    """(user id, username, cost of all their keys' calls since `first_day`), revoked keys included."""
    rows = await UsageDailyRow.raw(_BY_USER, first_day).run()
    return [(r["user_id"], r["username"], float(r["spent"] or 0.0)) for r in rows]


_BY_TEAM = (
    "SELECT k.team_id AS team_id, SUM(d.cost_usd) AS spent FROM usage_daily d"
    " JOIN api_key k ON k.id = d.key_id WHERE d.day >= {} AND k.team_id IS NOT NULL GROUP BY k.team_id"
)


async def spend_by_team_since(first_day: date) -> dict[str, float]:
    """Team id -> cost of all its keys' calls since `first_day`, revoked keys included."""
    rows = await UsageDailyRow.raw(_BY_TEAM, first_day).run()
    return {r["team_id"]: float(r["spent"] or 0.0) for r in rows}


async def day_totals(day: date) -> tuple[list[DayTotals], list[DayTotals]]:
    """A day's rollup grouped by key and by `provider/model`: requests, errors, tokens, cost."""
    d = UsageDailyRow
    measures = (
        Sum(d.requests).as_alias("requests"),
        Sum(d.errors).as_alias("errors"),
        Sum(d.prompt_tokens).as_alias("prompt"),
        Sum(d.completion_tokens).as_alias("completion"),
        Sum(d.cost_usd).as_alias("cost"),
    )
    by_key = await d.select(d.key_id, *measures).where(d.day == day).group_by(d.key_id).run()
    by_model = await d.select(d.provider, d.model, *measures).where(d.day == day).group_by(d.provider, d.model).run()

    def totals(name: str, r: dict[str, Any]) -> DayTotals:
        tokens = int(r["prompt"] or 0) + int(r["completion"] or 0)
        return DayTotals(name, int(r["requests"] or 0), int(r["errors"] or 0), tokens, float(r["cost"] or 0.0))

    keys = [totals(r["key_id"] or "(no key)", r) for r in by_key]
    models = [totals(f"{r['provider']}/{r['model']}", r) for r in by_model if r["model"]]
    return keys, models


async def raised_since(moment: datetime) -> set[str]:
    """The dedup keys of alerts raised since `moment`: what a tick need not try again."""
    rows = await AlertRow.select(AlertRow.dedup).where(AlertRow.created_at >= moment).run()
    return {r["dedup"] for r in rows}


async def raise_once(
    alert_id: str, dedup: str, kind: str, key_id: str | None, payload: dict[str, Any], delivery: str
) -> bool:
    """Record the alert unless one with `dedup` exists; True when this call recorded it (and so delivers it)."""
    row = AlertRow(
        id=alert_id,
        dedup=dedup,
        type=kind,
        key_id=key_id,
        payload=msgspec.json.encode(payload).decode(),
        delivery=delivery,
        created_at=datetime.now(UTC),
    )
    inserted = await AlertRow.insert(row).on_conflict(action="DO NOTHING").returning(AlertRow.id).run()
    return bool(inserted)


async def claim_stale(before: datetime, limit: int = 20) -> list[tuple[str, dict[str, Any]]]:
    """Alerts still `pending` that were raised before `before` (their worker stopped mid-delivery), each
    claimed by flipping it to `resending`: of several workers, one wins each. Returns (id, payload)."""
    rows = await (
        AlertRow.select(AlertRow.id, AlertRow.payload)
        .where((AlertRow.delivery == "pending") & (AlertRow.created_at < before))
        .limit(limit)
        .run()
    )
    claimed = []
    for row in rows:
        won = await (
            AlertRow.update({AlertRow.delivery: "resending"})
            .where((AlertRow.id == row["id"]) & (AlertRow.delivery == "pending"))
            .returning(AlertRow.id)
            .run()
        )
        if won:
            payload = row["payload"]
            claimed.append((row["id"], msgspec.json.decode(payload) if isinstance(payload, str | bytes) else payload))
    return claimed


async def finish(alert_id: str, delivery: str, attempts: int, last_status: int | None) -> None:
    await (
        AlertRow.update({AlertRow.delivery: delivery, AlertRow.attempts: attempts, AlertRow.last_status: last_status})
        .where(AlertRow.id == alert_id)
        .run()
    )


def _public(row: dict[str, Any]) -> Alert:
    payload = row["payload"]
    doc: dict[str, Any] = msgspec.json.decode(payload) if isinstance(payload, str | bytes) else dict(payload)
    doc["delivery"] = {"status": row["delivery"], "attempts": row["attempts"], "last_status": row["last_status"]}
    return msgspec.convert(doc, Alert)


async def list_alerts(*, kind: str | None, key_id: str | None, limit: int, offset: int) -> tuple[list[Alert], int]:
    """Newest first, with how each was delivered."""
    filters = [column == value for column, value in ((AlertRow.type, kind), (AlertRow.key_id, key_id)) if value]
    rows, total = await list_rows(
        AlertRow, filters, [AlertRow.created_at, AlertRow.id], limit, offset, newest_first=True
    )
    return [_public(r) for r in rows], total
