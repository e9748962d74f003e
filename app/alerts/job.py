"""The alert job: compare each key's spend this month with its budget, raise what was crossed, deliver it.

It runs on every worker of every replica (on the scheduler, every `POLYROUTE_ALERT_INTERVAL_S`);
the alert table's unique `dedup` makes each alert happen once, and the worker whose insert won
delivers it. Spend is read from the daily rollup, which every replica's usage writer keeps, so the
figure is the whole deployment's and never touches the request path. When one tick finds several
thresholds crossed at once (a key's first big day), only the highest is sent; the others are
recorded as `superseded`, so they are not sent later either. An alert still `pending` after
`STALE_AFTER` (its worker stopped mid-delivery) is claimed by one worker and sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import msgspec

from app.alerts import store
from app.alerts.budget import (
    BudgetAlert,
    Spender,
    Window,
    budget_alerts,
    budgets,
    slack_text,
    team_budgets,
    user_budgets,
)
from app.alerts.notices import daily_report, expiring_keys
from app.alerts.outages import OutageWatch
from app.catalog.keys import new_id
from app.catalog.store import rfc3339
from app.errors import ConflictError
from app.gateway.snapshot import CatalogSnapshot
from app.health.scores import HealthRegistry
from app.settings import Settings
from app.tasks.outbound import outbound_client
from app.tasks.webhooks import Delivery, WebhookSender, webhook_secret

__all__ = ["AlertJob"]

log = logging.getLogger("polyroute.alerts")

STALE_AFTER = timedelta(minutes=5)
"""Longer than any delivery takes (five attempts of at most 10 s, with backoff between them)."""


class AlertJob:
    def __init__(
        self, settings: Settings, snapshot: Callable[[], CatalogSnapshot], health: HealthRegistry | None = None
    ) -> None:
        self._settings = settings
        self._snapshot = snapshot
        self._health = health
        self._outages = OutageWatch(settings.alert_outage_after_s)
        self._raised: set[str] = set()
        """Notices this worker raised or saw raised: not tried again every tick."""
        self._client: httpx.AsyncClient | None = None
        self._sender: WebhookSender | None = None

    def _webhooks(self) -> WebhookSender:
        if self._sender is None:
            s = self._settings
            self._client = outbound_client(timeout=10.0, follow_redirects=False)
            self._sender = WebhookSender(self._client, webhook_secret(s), s.webhook_max_attempts, s.webhook_backoff_s)
        return self._sender

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def tick(self) -> None:
        """One comparison; a database outage is logged and the next tick tries again."""
        try:
            await self._tick(datetime.now(UTC))
        except Exception:
            log.exception("alert check failed; trying again at the next tick")

    async def _tick(self, now: datetime) -> None:
        if self._settings.alert_webhook_url:
            for alert_id, payload in await store.claim_stale(now - STALE_AFTER):
                await self._send(alert_id, payload)
        if self._health is not None and self._settings.alert_outage_after_s > 0:
            await self._provider_alerts(now.timestamp())
        await self._notices(now)
        crossed = await self._budgets_crossed(now)
        if not crossed:
            return
        done = await store.raised_since(datetime(now.year, now.month, 1, tzinfo=UTC))
        fresh = [a for a in crossed if a.dedup not in done]
        highest: dict[tuple[str, str, str], BudgetAlert] = {}
        for alert in fresh:  # lowest threshold first: the last one per spender and budget is its highest
            highest[(alert.spender.kind, alert.spender.id, alert.window)] = alert
        for alert in fresh:
            top = highest[(alert.spender.kind, alert.spender.id, alert.window)]
            await self._raise(alert, send=top is alert, now=now)

    async def _budgets_crossed(self, now: datetime) -> list[BudgetAlert]:
        """Keys past a share of their own budget, users and teams past a share of the budget their keys
        share: monthly budgets against this month's spend, daily ones against today's."""
        keys = list(self._snapshot().keys.values())
        thresholds = self._settings.alert_budget_thresholds
        crossed: list[BudgetAlert] = []
        windows: tuple[tuple[Window, date, str], ...] = (
            ("month", date(now.year, now.month, 1), f"{now:%Y-%m}"),
            ("day", now.date(), f"{now:%Y-%m-%d}"),
        )
        for window, since, period in windows:
            by_key, by_user, by_team = budgets(keys, window), user_budgets(keys, window), team_budgets(keys, window)
            if by_key:
                crossed += budget_alerts(by_key, await store.spend_since(since), thresholds, period, window)
            if by_user:
                spent, spenders = {}, {}
                for user_id, username, amount in await store.spend_by_user_since(since):
                    if user_id in by_user:
                        plan, budget = by_user[user_id]
                        spent[user_id] = amount
                        spenders[user_id] = (Spender.of_user(user_id, username, plan), budget)
                crossed += budget_alerts(spenders, spent, thresholds, period, window)
            if by_team:
                spent_by_team = await store.spend_by_team_since(since)
                crossed += budget_alerts(by_team, spent_by_team, thresholds, period, window)
        return crossed

    async def _provider_alerts(self, now: float) -> None:
        assert self._health is not None
        health, targets = self._health, self._health.keys()
        for alert in self._outages.observe({k: health.snapshot(k) for k in targets}, now):
            alert_id = new_id("alert")
            await self._raise_one(alert_id, alert.dedup, None, alert.payload(alert_id, now))

    async def _notices(self, now: datetime) -> None:
        settings, moment = self._settings, now.timestamp()
        if settings.alert_key_expiry_days > 0:
            keys = self._snapshot().keys.values()
            for dedup, body in expiring_keys(keys, moment, settings.alert_key_expiry_days):
                if dedup not in self._raised:
                    await self._raise_notice(dedup, body["key"]["id"], body, now)
        yesterday = (now - timedelta(days=1)).date()
        dedup = f"report.daily:{yesterday.isoformat()}"
        hour, minute = (int(part) for part in settings.alert_daily_report_at.split(":"))
        if settings.alert_daily_report and dedup not in self._raised and (now.hour, now.minute) >= (hour, minute):
            by_key, by_model = await store.day_totals(yesterday)
            names = {k.id: k.name for k in self._snapshot().keys.values()}
            named = [replace(t, name=names.get(t.name, t.name)) for t in by_key]
            report = daily_report(yesterday, named, by_model)
            if report is not None:  # a day without traffic is looked at again (a replica may replay late usage)
                await self._raise_notice(dedup, None, report, now)

    async def _raise_notice(self, dedup: str, key_id: str | None, body: dict[str, Any], now: datetime) -> None:
        alert_id = new_id("alert")
        payload = {"id": alert_id, "object": "alert", "created_at": rfc3339(now), **body}
        await self._raise_one(alert_id, dedup, key_id, payload)
        self._raised.add(dedup)

    async def _raise_one(
        self, alert_id: str, dedup: str, key_id: str | None, payload: dict[str, Any], *, send: bool = True
    ) -> None:
        """Record, log and send one alert, unless another worker or replica raised it first; `send=False`
        records it as superseded (a higher threshold crossed in the same check is sent instead)."""
        url = self._settings.alert_webhook_url
        delivery = "superseded" if not send else ("pending" if url else "none")
        if await store.raise_once(alert_id, dedup, payload["type"], key_id, payload, delivery) and send:
            log.warning("alert %s: %s", alert_id, payload["message"])
            if url:
                await self._send(alert_id, payload)

    async def _raise(self, alert: BudgetAlert, *, send: bool, now: datetime) -> None:
        alert_id = new_id("alert")
        key_id = alert.spender.id if alert.spender.kind == "key" else None
        await self._raise_one(alert_id, alert.dedup, key_id, alert.payload(alert_id, rfc3339(now)), send=send)

    def _body(self, payload: dict[str, Any]) -> bytes:
        return msgspec.json.encode(payload if self._settings.alert_format == "polyroute" else slack_text(payload))

    async def _send(self, alert_id: str, payload: dict[str, Any]) -> None:
        url = self._settings.alert_webhook_url
        assert url is not None
        sent = await self._webhooks().deliver(url, self._body(payload), ref=alert_id, ref_header="X-Polyroute-Alert-Id")
        await store.finish(alert_id, sent.outcome, sent.attempts, sent.last_status)

    async def send_test(self) -> Delivery:
        """One attempt at the configured webhook with a `test` alert, nothing recorded: does it arrive?"""
        url = self._settings.alert_webhook_url
        if not url:
            raise ConflictError("No alert webhook is configured (POLYROUTE_ALERT_WEBHOOK_URL)")
        alert_id = new_id("alert")
        message = "Test alert from Polyroute: alerts reach this webhook."
        created = rfc3339(datetime.now(UTC))
        payload = {"id": alert_id, "object": "alert", "type": "test", "created_at": created, "message": message}
        once = replace(self._webhooks(), max_attempts=1)
        return await once.deliver(url, self._body(payload), ref=alert_id, ref_header="X-Polyroute-Alert-Id")
