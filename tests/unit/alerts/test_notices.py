"""Keys about to expire, and the daily report built from a day's rollup."""

from __future__ import annotations

from datetime import date

from app.alerts.notices import DayTotals, daily_report, expiring_keys
from app.catalog.specs import Limits, PlanSpec
from app.gateway.snapshot import KeyRecord

NOW = 1_800_000_000.0


def key(key_id: str, expires_in_s: float | None) -> KeyRecord:
    expires = None if expires_in_s is None else NOW + expires_in_s
    return KeyRecord(key_id, f"name-{key_id}", "sk-poly-AbCdEf", PlanSpec(name="p"), None, Limits(), expires)


def test_keys_expiring_within_the_window_are_noticed_once_per_expiry_date() -> None:
    keys = [key("soon", 2 * 86400), key("hours", 5 * 3600), key("later", 30 * 86400), key("never", None)]
    keys.append(key("gone", -60))
    found = dict(expiring_keys([*keys, keys[0]], NOW, 7))
    assert sorted(body["key"]["id"] for body in found.values()) == ["hours", "soon"]
    soon = found[f"key.expiring:soon:{int(NOW + 2 * 86400)}"]
    assert soon["type"] == "key.expiring" and "expires in 2.0 days" in soon["message"]
    assert "expires in 5 hours" in found[f"key.expiring:hours:{int(NOW + 5 * 3600)}"]["message"]


def test_the_daily_report_totals_the_day_and_ranks_by_cost() -> None:
    keys = [DayTotals("ci", 90, 9, 9000, 1.5), DayTotals("web", 10, 0, 500, 3.0), DayTotals("idle", 0, 0, 0, 0.0)]
    models = [DayTotals("openai/gpt-4.1", 60, 5, 6000, 4.0), DayTotals("demo/echo", 40, 4, 3500, 0.5)]
    report = daily_report(date(2026, 11, 22), keys, models, top=2)
    assert report is not None
    assert (report["requests"], report["errors"], report["tokens"], report["cost_usd"]) == (100, 9, 9500, 4.5)
    assert [k["name"] for k in report["top_keys"]] == ["web", "ci"]
    assert report["top_models"][0] == {"name": "openai/gpt-4.1", "requests": 60, "cost_usd": 4.0}
    assert report["message"] == "Polyroute on 2026-11-22: 100 requests (9.0% errors), 9,500 tokens, $4.50"
    assert daily_report(date(2026, 11, 22), [DayTotals("idle", 0, 0, 0, 0.0)], []) is None
