"""Which budget alerts a month's spend raises, and the settings that shape them."""

from __future__ import annotations

import pytest

from app.alerts.budget import budget_alerts, budgets, slack_text
from app.catalog.specs import Limits, PlanSpec
from app.gateway.snapshot import KeyRecord
from app.settings import load_settings


def key(key_id: str, own: float | None = None, plan: float | None = None) -> KeyRecord:
    return KeyRecord(
        id=key_id,
        name=f"name-{key_id}",
        prefix="sk-poly-AbCdEf",
        plan=PlanSpec(name="p", monthly_budget_usd=plan),
        allowed_models=None,
        limits=Limits(monthly_budget_usd=own),
        expires_at=None,
    )


def test_a_keys_own_budget_wins_over_its_plans_and_keys_without_one_are_left_out() -> None:
    own, planned, none, zero = key("a", own=5, plan=50), key("b", plan=50), key("c"), key("d", own=0)
    found = budgets([own, planned, none, zero, own])  # a rotated key appears under two hashes
    assert {k: b for k, (_, b) in found.items()} == {"a": 5, "b": 50}


def test_every_threshold_crossed_is_listed_lowest_first() -> None:
    keys = budgets([key("a", own=10), key("b", own=10), key("c", own=10)])
    alerts = budget_alerts(keys, {"a": 5.0, "b": 12.0, "c": 4.99, "gone": 100.0}, (1.0, 0.5, 0.8), "2026-11")
    assert [(a.spender.id, a.threshold) for a in alerts] == [("a", 0.5), ("b", 0.5), ("b", 0.8), ("b", 1.0)]
    assert alerts[0].dedup == "budget:a:2026-11:0.5"
    assert alerts[0].message() == (
        "Key 'name-a' (sk-poly-AbCdEf) has spent $5.00 of its $10.00 monthly budget in 2026-11"
        " (50%, past the 50% alert)"
    )
    assert "refused with BUDGET_EXCEEDED" in alerts[-1].message()
    payload = alerts[-1].payload("alert_1", "2026-11-23T10:00:00Z")
    assert payload["key"] == {"id": "b", "name": "name-b", "prefix": "sk-poly-AbCdEf", "user_id": None}
    assert (payload["threshold"], payload["spent_usd"], payload["budget_usd"], payload["plan"]) == (1.0, 12.0, 10, "p")
    assert slack_text(payload) == {"text": f":warning: Polyroute: {payload['message']}"}


def test_daily_budgets_raise_alerts_of_their_own_day() -> None:
    daily = KeyRecord(
        id="d",
        name="name-d",
        prefix="sk-poly-AbCdEf",
        plan=PlanSpec(name="p", monthly_budget_usd=100, daily_budget_usd=4),
        allowed_models=None,
        limits=Limits(),
        expires_at=None,
    )
    assert {k: b for k, (_, b) in budgets([daily], "day").items()} == {"d": 4}
    assert {k: b for k, (_, b) in budgets([daily]).items()} == {"d": 100}
    (alert,) = budget_alerts(budgets([daily], "day"), {"d": 3.5}, (0.8,), "2026-11-24", "day")
    assert alert.dedup == "budget:d:2026-11-24:0.8"
    assert alert.message().endswith("$3.50 of its $4.00 daily budget on 2026-11-24 (88%, past the 80% alert)")
    payload = alert.payload("alert_2", "2026-11-24T10:00:00Z")
    assert (payload["window"], payload["day"]) == ("day", "2026-11-24") and "month" not in payload


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"POLYROUTE_ALERT_BUDGET_THRESHOLDS": "0.5, lots"}, "not a valid"),
        ({"POLYROUTE_ALERT_BUDGET_THRESHOLDS": "0.5,0"}, "shares in"),
        ({"POLYROUTE_ALERT_WEBHOOK_URL": "hooks.example.com/x"}, "absolute http"),
        ({"POLYROUTE_ALERT_FORMAT": "teams"}, "POLYROUTE_ALERT_FORMAT: Invalid enum value"),
    ],
)
def test_bad_alert_settings_stop_the_start(env: dict[str, str], message: str, tmp_path: object) -> None:
    with pytest.raises(Exception, match=message):
        load_settings({"POLYROUTE_DATA_DIR": str(tmp_path), **env})


def test_thresholds_are_read_as_numbers(tmp_path: object) -> None:
    settings = load_settings({"POLYROUTE_DATA_DIR": str(tmp_path), "POLYROUTE_ALERT_BUDGET_THRESHOLDS": "0.9, 1, 2"})
    assert settings.alert_budget_thresholds == (0.9, 1.0, 2.0)
