"""Budget alerts through real servers: two workers, one database, a webhook receiver.

A key whose spend this month crosses 50 %, 80 % or 100 % of its monthly budget raises one alert per
threshold, delivered once (signed) although both workers check; thresholds crossed in one check
send only the highest. On SQLite and Postgres.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.tasks.webhooks import verify
from tests.db_backends import gateway_on
from tests.fakes.openai import FakeOpenAI
from tests.fakes.webhooks import WebhookReceiver
from tests.gateway_process import ADMIN_KEY, API_KEY, GatewayProcess
from tests.integration.tasks.conftest import wait_for
from tests.integration.ui.conftest import page_text, ui_client
from tests.integration.usage.harness import execute

SECRET = "whsec-alerts-0123456789"
PRICE = 1000.0
"""$ per million tokens, in and out: a call of a few dozen tokens costs a few cents."""


def _config(fake: FakeOpenAI) -> dict[str, Any]:
    model = {"id": "gpt-fake", "input_cost_per_mtok": PRICE, "output_cost_per_mtok": PRICE}
    return {
        "providers": [{"name": "fakeai", "kind": "openai", "base_url": fake.base_url + "/v1", "models": [model]}],
        "plans": [{"name": "internal", "models": ["*"]}],
        "api_keys": [{"name": "test", "key": API_KEY, "plan": "internal"}],
    }


def _env(receiver: WebhookReceiver, path: str, **extra: str) -> dict[str, str]:
    return {
        "POLYROUTE_ALERT_WEBHOOK_URL": f"{receiver.base_url}/hook/{path}",
        "POLYROUTE_ALERT_INTERVAL_S": "0.2",
        "POLYROUTE_WEBHOOK_SECRET": SECRET,
        "POLYROUTE_USAGE_FLUSH_INTERVAL_S": "0.1",
        "POLYROUTE_ALERT_DAILY_REPORT": "true",
        "POLYROUTE_ALERT_DAILY_REPORT_AT": "00:00",
        **extra,
    }


@pytest.fixture(scope="module")
def alerting(
    backend: str, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI, receiver: WebhookReceiver
) -> Iterator[GatewayProcess]:
    tmp: Path = tmp_path_factory.mktemp(f"alerts-{backend}")
    env = _env(receiver, backend)
    with gateway_on(backend, tmp, _config(fake_openai), env=env, extra_args=["--workers", "2"]) as gw:
        yield gw


def _one_call_cost(gw: GatewayProcess) -> float:
    """What one `hi` costs: its tokens as the upstream reports them, at PRICE."""
    usage = gw.openai().chat.completions.create(model="fakeai/gpt-fake", messages=_hi()).usage
    assert usage is not None
    return (usage.prompt_tokens + usage.completion_tokens) * PRICE / 1e6


def _hi() -> list[dict[str, str]]:
    return [{"role": "user", "content": "hi"}]


def _key(gw: GatewayProcess, name: str, budget: float, field: str = "monthly_budget_usd") -> tuple[str, str]:
    resp = gw.admin().post("/v1/api-keys", json={"name": name, "plan": "internal", "limits": {field: budget}})
    assert resp.status_code == 201, resp.text
    time.sleep(1.5)  # the other worker learns of the key at its next catalog poll (every 0.5 s here)
    return resp.json()["id"], resp.json()["key"]


def _sent(receiver: WebhookReceiver, path: str, key_id: str) -> list[dict[str, Any]]:
    return [
        json.loads(r.body)
        for r in receiver.received
        if r.path == f"/hook/{path}" and json.loads(r.body).get("key", {}).get("id") == key_id
    ]


def _alerts(gw: GatewayProcess, key_id: str) -> list[dict[str, Any]]:
    resp = gw.admin().get("/v1/alerts", params={"key_id": key_id})
    assert resp.status_code == 200, resp.text
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


def test_each_threshold_is_sent_once_signed_and_the_highest_of_a_jump_only(
    alerting: GatewayProcess, backend: str, receiver: WebhookReceiver
) -> None:
    cost = _one_call_cost(alerting)
    key_id, secret = _key(alerting, f"alerts-steady-{backend}", round(cost / 0.6, 6))
    client = alerting.openai(key=secret)

    client.chat.completions.create(model="fakeai/gpt-fake", messages=_hi())  # 60 %
    wait_for(lambda: len(_sent(receiver, backend, key_id)) == 1, what="the 50 % alert")
    [first] = _sent(receiver, backend, key_id)
    assert (first["type"], first["threshold"], first["month"]) == ("budget.threshold", 0.5, time.strftime("%Y-%m"))
    assert first["window"] == "month"
    assert first["key"]["name"] == f"alerts-steady-{backend}" and first["key"]["prefix"] == secret[:14]
    assert first["spent_usd"] == pytest.approx(cost) and "(60%, past the 50% alert)" in first["message"]
    delivery = next(r for r in receiver.received if json.loads(r.body)["id"] == first["id"])
    assert delivery.headers["X-Polyroute-Alert-Id"] == first["id"]
    assert verify(SECRET.encode(), delivery.headers["X-Polyroute-Signature"], delivery.body)
    assert secret not in delivery.body.decode(), "the key's secret never leaves in an alert"

    client.chat.completions.create(model="fakeai/gpt-fake", messages=_hi())  # 120 %: 80 % and 100 % in one check
    wait_for(lambda: len(_sent(receiver, backend, key_id)) == 2, what="the 100 % alert")
    time.sleep(1.0)  # five more checks on each worker: nothing more is sent
    sent = _sent(receiver, backend, key_id)
    assert [a["threshold"] for a in sent] == [0.5, 1.0]
    assert "BUDGET_EXCEEDED" in sent[1]["message"]
    wait_for(lambda: _alerts(alerting, key_id)[0]["delivery"]["status"] == "delivered", what="the outcome recorded")
    listed = _alerts(alerting, key_id)
    assert {a["threshold"]: a["delivery"]["status"] for a in listed} == {
        1.0: "delivered",
        0.8: "superseded",
        0.5: "delivered",
    }
    assert listed[0]["delivery"] == {"status": "delivered", "attempts": 1, "last_status": 204}


def test_a_first_call_past_the_budget_sends_one_alert(
    alerting: GatewayProcess, backend: str, receiver: WebhookReceiver
) -> None:
    cost = _one_call_cost(alerting)
    key_id, secret = _key(alerting, f"alerts-jump-{backend}", round(cost / 1.5, 6))
    alerting.openai(key=secret).chat.completions.create(model="fakeai/gpt-fake", messages=_hi())
    wait_for(lambda: len(_sent(receiver, backend, key_id)) == 1, what="the alert")
    time.sleep(1.0)
    assert [a["threshold"] for a in _sent(receiver, backend, key_id)] == [1.0]
    assert sorted(a["delivery"]["status"] for a in _alerts(alerting, key_id)) == [
        "delivered",
        "superseded",
        "superseded",
    ]


def test_a_daily_budget_raises_its_own_alerts_for_the_day(
    alerting: GatewayProcess, backend: str, receiver: WebhookReceiver
) -> None:
    cost = _one_call_cost(alerting)
    key_id, secret = _key(alerting, f"alerts-daily-{backend}", round(cost / 0.6, 6), "daily_budget_usd")
    alerting.openai(key=secret).chat.completions.create(model="fakeai/gpt-fake", messages=_hi())  # 60 % of today's
    wait_for(lambda: len(_sent(receiver, backend, key_id)) == 1, what="the daily 50 % alert")
    time.sleep(1.0)  # five more checks on each worker: nothing more is sent, and no monthly alert (no such budget)
    [alert] = _sent(receiver, backend, key_id)
    today = datetime.now(UTC).date().isoformat()
    assert (alert["window"], alert["day"], alert["threshold"]) == ("day", today, 0.5)
    assert "month" not in alert
    assert f"daily budget on {today} (60%, past the 50% alert)" in alert["message"]
    assert [a["window"] for a in _alerts(alerting, key_id)] == ["day"]


def test_keys_without_a_budget_raise_nothing(alerting: GatewayProcess) -> None:
    """The config file's key has no budget: however much it spends (each call here costs cents), no alert."""
    for _ in range(3):
        alerting.openai().chat.completions.create(model="fakeai/gpt-fake", messages=_hi())
    keys = alerting.admin().get("/v1/api-keys", params={"limit": 500}).json()["data"]
    [unbudgeted] = [k["id"] for k in keys if k["name"] == "test"]
    time.sleep(1.0)  # five checks on each worker
    resp = alerting.admin().get("/v1/alerts", params={"key_id": unbudgeted})
    assert resp.json()["data"] == [] and resp.json()["total"] == 0


@pytest.mark.parametrize(
    ("params", "status"),
    [({"limit": 0}, 422), ({"limit": "many"}, 422), ({"offset": -1}, 422), ({"type": "nope"}, 422)],
)
def test_listing_refuses_bad_parameters(alerting: GatewayProcess, params: dict[str, Any], status: int) -> None:
    resp = alerting.admin().get("/v1/alerts", params=params)
    assert resp.status_code == status and resp.headers["content-type"].startswith("application/problem+json")


def test_listing_is_for_admins_only(alerting: GatewayProcess) -> None:
    assert httpx.get(alerting.base_url + "/v1/alerts").status_code == 401
    inference = httpx.get(alerting.base_url + "/v1/alerts", headers={"Authorization": f"Bearer {API_KEY}"})
    assert inference.status_code == 403


@pytest.mark.parametrize("backend", ["sqlite"], indirect=False)
def test_slack_format_posts_the_message_as_text(
    backend: str, tmp_path: Path, fake_openai: FakeOpenAI, receiver: WebhookReceiver
) -> None:
    env = _env(receiver, "slack", POLYROUTE_ALERT_FORMAT="slack")
    with gateway_on(backend, tmp_path, _config(fake_openai), env=env) as gw:
        cost = _one_call_cost(gw)
        key_id, secret = _key(gw, "slack-key", round(cost / 0.9, 6))
        gw.openai(key=secret).chat.completions.create(model="fakeai/gpt-fake", messages=_hi())
        wait_for(lambda: any(r.path == "/hook/slack" for r in receiver.received), what="the Slack message")
        [message] = [json.loads(r.body) for r in receiver.received if r.path == "/hook/slack"]
        assert message == {"text": f":warning: Polyroute: {_alerts(gw, key_id)[0]['message']}"}
        assert "Key 'slack-key'" in message["text"] and "(90%, past the 80% alert)" in message["text"]


def test_the_admin_ui_lists_the_alerts_of_a_key(alerting: GatewayProcess, backend: str) -> None:
    cost = _one_call_cost(alerting)
    key_id, secret = _key(alerting, f"alerts-ui-{backend}", round(cost / 0.85, 6))
    alerting.openai(key=secret).chat.completions.create(model="fakeai/gpt-fake", messages=_hi())
    wait_for(lambda: len(_alerts(alerting, key_id)) == 2, what="the alerts recorded")
    text = _alerts_page(alerting, f"?key_id={key_id}")
    assert text.count(f"alerts-ui-{backend}") == 2 and "80 %" in text and "50 %" in text
    assert f"${cost:.2f} / ${cost / 0.85:.2f}" in text and "superseded" in text and "delivered" in text
    assert "alerts-steady" not in text, "narrowed to the one key"


def _alerts_page(gw: GatewayProcess, query: str = "") -> str:
    """The admin UI's Alerts page as text, signed in with the admin key."""
    ui = ui_client(gw)
    try:
        assert ui.login(admin_key=ADMIN_KEY).status_code == 303
        page = ui.get(f"/ui/alerts{query}")
        assert page.status_code == 200
        return page_text(page.text)
    finally:
        ui.close()


def _age_alert(gw: GatewayProcess, alert_id: str) -> None:
    """What a worker that stopped mid-delivery leaves: the alert `pending`, raised long ago."""
    sql = "UPDATE alert SET delivery = 'pending', created_at = '2000-01-01 00:00:00+00:00' WHERE id = ?"
    execute(gw.database_url, sql, alert_id)


def test_an_alert_left_pending_by_a_stopped_worker_is_sent_again_once(
    alerting: GatewayProcess, backend: str, receiver: WebhookReceiver
) -> None:
    cost = _one_call_cost(alerting)
    key_id, secret = _key(alerting, f"alerts-resend-{backend}", round(cost / 0.7, 6))
    alerting.openai(key=secret).chat.completions.create(model="fakeai/gpt-fake", messages=_hi())
    delivered = ["delivered"]
    wait_for(lambda: [a["delivery"]["status"] for a in _alerts(alerting, key_id)] == delivered, what="delivery")
    [alert] = _alerts(alerting, key_id)
    _age_alert(alerting, alert["id"])
    wait_for(lambda: [a["delivery"]["status"] for a in _alerts(alerting, key_id)] == delivered, what="resent")
    time.sleep(1.0)
    assert [a["id"] for a in _sent(receiver, backend, key_id)] == [alert["id"], alert["id"]]


def test_a_test_alert_reaches_the_webhook_signed(alerting: GatewayProcess, receiver: WebhookReceiver) -> None:
    sent = alerting.admin().post("/v1/alerts/test")
    assert sent.status_code == 200 and sent.json() == {"delivered": True, "attempts": 1, "last_status": 204}
    delivery = next(r for r in reversed(receiver.received) if json.loads(r.body)["type"] == "test")
    assert verify(SECRET.encode(), delivery.headers["X-Polyroute-Signature"], delivery.body)
    assert "alerts reach this webhook" in json.loads(delivery.body)["message"]
    receiver.failures, receiver.fail_with = 1, 500
    failed = alerting.admin().post("/v1/alerts/test")
    assert failed.json() == {"delivered": False, "attempts": 1, "last_status": 500}, "one attempt, no retries"
    assert alerting.admin().get("/v1/alerts", params={"type": "budget.threshold", "limit": 500}).status_code == 200
    inference = httpx.post(alerting.base_url + "/v1/alerts/test", headers={"Authorization": f"Bearer {API_KEY}"})
    assert inference.status_code == 403


def test_a_users_keys_together_raise_the_users_budget_alert(
    alerting: GatewayProcess, backend: str, receiver: WebhookReceiver
) -> None:
    """A plan's `user_limits.monthly_budget_usd`: two keys of one user, each under the threshold alone,
    together past it raise one alert naming the user."""
    cost = _one_call_cost(alerting)
    plan = f"shared-budget-{backend}"
    username = f"spender-{backend}"
    with alerting.admin() as admin:
        made = admin.post("/v1/plans", json={"name": plan, "user_limits": {"monthly_budget_usd": round(cost / 0.3, 6)}})
        assert made.status_code == 201, made.text
        password = "pw-" + username + "-0123456789"
        user = admin.post("/v1/users", json={"username": username, "password": password, "role": "user", "plan": plan})
        assert user.status_code == 201, user.text
        token = admin.post("/v1/auth/token", json={"username": username, "password": password}).json()["access_token"]
    with alerting.http(headers={"Authorization": f"Bearer {token}"}) as http:
        secrets_ = [http.post("/v1/api-keys", json={"name": f"k{i}"}).json()["key"] for i in range(2)]
    time.sleep(1.5)  # both workers learn of the keys
    for secret in secrets_:  # 30 % each: under every threshold alone, 60 % together
        alerting.openai(key=secret).chat.completions.create(model="fakeai/gpt-fake", messages=_hi())

    def for_user() -> list[dict[str, Any]]:
        return [
            json.loads(r.body)
            for r in receiver.received
            if (json.loads(r.body).get("user") or {}).get("username") == username
        ]

    wait_for(lambda: len(for_user()) == 1, what="the user's alert")
    time.sleep(1.0)
    [alert] = for_user()
    assert (alert["threshold"], "key" in alert, alert["plan"]) == (0.5, False, plan)
    assert alert["spent_usd"] == pytest.approx(2 * cost) and alert["user"]["id"] == user.json()["id"]
    assert f"User '{username}' has spent" in alert["message"] and "monthly budget their keys share" in alert["message"]
    listed = alerting.admin().get("/v1/alerts", params={"type": "budget.threshold"}).json()["data"]
    assert [a["id"] for a in listed if a["user"] and a["user"]["username"] == username] == [alert["id"]]
    text = _alerts_page(alerting)
    assert f"{username} all their keys · {plan}" in text and "None" not in text


def test_a_teams_keys_together_raise_the_teams_budget_alert(
    alerting: GatewayProcess, backend: str, receiver: WebhookReceiver
) -> None:
    """A team's `limits.monthly_budget_usd`: two of its keys, each under the threshold alone, together past
    it raise one alert naming the team."""
    cost = _one_call_cost(alerting)
    name = f"spenders-{backend}"
    with alerting.admin() as admin:
        made = admin.post(
            "/v1/teams", json={"name": name, "plan": "internal", "limits": {"monthly_budget_usd": round(cost / 0.3, 6)}}
        )
        assert made.status_code == 201, made.text
        keys = [admin.post("/v1/api-keys", json={"name": f"{name}-{i}", "team": name}) for i in range(2)]
    time.sleep(1.5)  # both workers learn of the keys
    for key in keys:  # 30 % each: under every threshold alone, 60 % together
        alerting.openai(key=key.json()["key"]).chat.completions.create(model="fakeai/gpt-fake", messages=_hi())

    def for_team() -> list[dict[str, Any]]:
        return [
            json.loads(r.body) for r in receiver.received if (json.loads(r.body).get("team") or {}).get("name") == name
        ]

    wait_for(lambda: len(for_team()) == 1, what="the team's alert")
    time.sleep(1.0)
    [alert] = for_team()
    assert (alert["threshold"], "key" in alert, alert["team"]["id"]) == (0.5, False, made.json()["id"])
    assert alert["spent_usd"] == pytest.approx(2 * cost)
    assert f"Team '{name}' has spent" in alert["message"] and "monthly budget its keys share" in alert["message"]
    listed = alerting.admin().get("/v1/alerts", params={"type": "budget.threshold"}).json()["data"]
    assert [a["id"] for a in listed if a["team"] and a["team"]["name"] == name] == [alert["id"]]
    assert f"Team {name} all its keys" in _alerts_page(alerting)


def test_a_key_about_to_expire_is_noticed_once(
    alerting: GatewayProcess, backend: str, receiver: WebhookReceiver
) -> None:
    made = alerting.admin().post("/v1/api-keys", json={"name": f"expiring-{backend}", "expires_in_days": 3})
    assert made.status_code == 201, made.text
    key_id = made.json()["id"]
    wait_for(lambda: len(_sent(receiver, backend, key_id)) == 1, what="the expiry notice")
    time.sleep(1.0)
    [notice] = _sent(receiver, backend, key_id)
    assert notice["type"] == "key.expiring" and notice["expires_at"].startswith(made.json()["expires_at"][:16])
    assert "expires in 3.0 days" in notice["message"] or "expires in 2.9 days" in notice["message"]


def _seed_yesterday(gw: GatewayProcess, day: date) -> None:
    """Two rollup rows of yesterday, as the usage writer would have left them."""
    values = (
        "(?, ?, 'key_seed_a', 'p', 'gpt-fake', 'fakeai', 200, 30, 0, 3000, 1000, 1.25),"
        " (?, ?, 'key_seed_b', 'p', 'gpt-fake', 'fakeai', 500, 10, 10, 100, 0, 0.0)"
    )
    columns = (
        "id, day, key_id, plan, model, provider, status, requests, errors, prompt_tokens, completion_tokens, cost_usd"
    )
    execute(gw.database_url, f"INSERT INTO usage_daily ({columns}) VALUES {values}", "seed-a", day, "seed-b", day)


def test_yesterdays_report_goes_out_once(alerting: GatewayProcess, backend: str, receiver: WebhookReceiver) -> None:
    day = (datetime.now(UTC) - timedelta(days=1)).date()
    _seed_yesterday(alerting, day)

    def reports() -> list[dict[str, Any]]:
        sent = [json.loads(r.body) for r in receiver.received if r.path == f"/hook/{backend}"]
        return [a for a in sent if a["type"] == "report.daily"]

    wait_for(lambda: len(reports()) == 1, what="the daily report")
    time.sleep(1.0)
    [report] = reports()
    assert (report["day"], report["requests"], report["errors"], report["tokens"]) == (day.isoformat(), 40, 10, 4100)
    assert report["cost_usd"] == 1.25 and report["top_models"] == [
        {"name": "fakeai/gpt-fake", "requests": 40, "cost_usd": 1.25}
    ]
    assert [k["name"] for k in report["top_keys"]] == ["key_seed_a", "key_seed_b"]
    assert report["message"] == f"Polyroute on {day.isoformat()}: 40 requests (25.0% errors), 4,100 tokens, $1.25"
