"""GET /v1/audit: every catalog change names who made it and what changed, secrets masked, and a
change that was refused leaves no trace."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.admin.conftest import Admin, unique


def events(admin: httpx.Client, **params: str) -> list[dict[str, Any]]:
    resp = admin.get("/v1/audit", params={"limit": "100", **params})
    assert resp.status_code == 200, resp.text
    found: list[dict[str, Any]] = resp.json()["data"]
    return found


def test_a_providers_life_is_logged_with_its_secrets_masked(api: Admin, admin: httpx.Client) -> None:
    secret, header = "sk-audit-" + unique("key"), "Bearer " + unique("hdr")
    api.watch.add(secret)
    api.watch.add(header)
    body = {
        "name": unique("audited"),
        "kind": "openai",
        "base_url": "https://llm.example.com/v1",
        "api_key": secret,
        "headers": {"Authorization": header, "X-Team": "search"},
        "models": [{"id": "gpt-a"}],
    }
    created = admin.post("/v1/configs", json=body)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    assert admin.patch(f"/v1/configs/{pid}", json={"timeout_s": 5}).status_code == 200
    assert admin.patch(f"/v1/configs/{pid}", json={"api_key": secret + "-new"}).status_code == 200
    assert admin.delete(f"/v1/configs/{pid}").status_code == 204

    deleted, rekeyed, retimed, made = events(admin, resource="provider", resource_id=pid)
    assert [e["action"] for e in (deleted, rekeyed, retimed, made)] == ["delete", "update", "update", "create"]
    for event in (deleted, rekeyed, retimed, made):
        assert event["actor"] == {"name": "admin key", "via": "api", "user_id": None}
        assert event["resource_name"] == body["name"]
    assert made["changes"]["api_key_enc"] == "(set)" and made["changes"]["kind"] == "openai"
    assert made["changes"]["headers"] == {"Authorization": f"Bea...{header[-4:]}", "X-Team": "search"}
    assert made["changes"]["models"] == [{"id": "gpt-a"}]
    assert retimed["changes"] == {"timeout_s": {"from": 60.0, "to": 5.0}}
    assert rekeyed["changes"]["api_key_enc"] == "(replaced)"
    assert rekeyed["changes"]["api_key_hint"]["from"] != rekeyed["changes"]["api_key_hint"]["to"]
    assert deleted["changes"] == {}
    assert deleted["ts"] >= made["ts"]


def test_a_user_managing_their_own_key_is_named(api: Admin, admin: httpx.Client) -> None:
    user, client = api.user()
    with client:
        created = client.post("/v1/api-keys", json={"name": "mine"})
        assert created.status_code == 201, created.text
        key = created.json()
        api.watch.created.add(key["key"])
        assert client.patch(f"/v1/api-keys/{key['id']}", json={"name": "mine-renamed"}).status_code == 200
        rotated = client.post(f"/v1/api-keys/{key['id']}/rotate", json={"grace_period_s": 0})
        assert rotated.status_code == 200
        api.watch.created.add(rotated.json()["key"])
        assert client.delete(f"/v1/api-keys/{key['id']}").status_code == 200
        assert client.get("/v1/audit").status_code == 403, "the audit log is for admins"

    revoked, rotate, rename, create = events(admin, resource_id=key["id"])
    actor = {"name": user["username"], "via": "api", "user_id": user["id"]}
    assert all(e["actor"] == actor and e["resource"] == "api_key" for e in (revoked, rotate, rename, create))
    assert [e["action"] for e in (revoked, rotate, rename, create)] == ["revoke", "rotate", "update", "create"]
    assert create["changes"]["key_hash"] == "(set)" and create["changes"]["plan"] == "cfg-plan"
    assert create["changes"]["user_id"] == user["id"]
    assert rename["changes"] == {"name": {"from": "mine", "to": "mine-renamed"}}
    assert rotate["changes"]["key_hash"] == "(replaced)"
    assert rotate["changes"]["prefix"]["from"] == key["prefix"] != rotate["changes"]["prefix"]["to"]
    assert (revoked["resource_name"], revoked["changes"]) == ("mine-renamed", {})
    assert [e["id"] for e in events(admin, actor=user["username"], action="rotate")] == [rotate["id"]]


def test_users_routes_and_plans_are_logged_and_a_refused_change_is_not(api: Admin, admin: httpx.Client) -> None:
    password = "pw-" + unique("audit")
    api.watch.add(password)
    username = unique("audited-user")
    made = admin.post(
        "/v1/users", json={"username": username, "password": password, "role": "user", "plan": "cfg-plan"}
    )
    assert made.status_code == 201
    [user_event] = events(admin, resource="user", resource_id=made.json()["id"])
    assert user_event["changes"]["password_hash"] == "(set)" and user_event["changes"]["username"] == username

    route = unique("route/audited")
    assert (
        admin.post(
            "/v1/routes", json={"name": route, "targets": [{"provider": "cfg-demo", "model": "echo"}]}
        ).status_code
        == 201
    )
    assert admin.patch(f"/v1/routes/{route}", json={"params": {"retries": 3}}).status_code == 200
    refused = admin.patch(f"/v1/routes/{route}", json={"targets": [{"provider": "nope", "model": "x"}]})
    assert refused.status_code == 422
    update, create = [e for e in events(admin, resource="route") if e["resource_name"] == route]
    assert update["changes"] == {"params": {"from": {}, "to": {"retries": 3}}}
    assert create["changes"]["targets"] == [{"provider": "cfg-demo", "model": "echo"}]

    plan = unique("audited-plan")
    assert admin.post("/v1/plans", json={"name": plan, "rpm": 5}).status_code == 201
    key = admin.post("/v1/api-keys", json={"name": "on-plan", "plan": plan})
    api.watch.created.add(key.json()["key"])
    assert admin.delete(f"/v1/plans/{plan}", params={"force": "true"}).status_code == 204
    deleted = next(e for e in events(admin, resource="plan", action="delete") if e["resource_name"] == plan)
    assert deleted["changes"] == {"api_keys_revoked": 1, "users_unbound": 0, "teams_unbound": 0}


@pytest.mark.parametrize(
    "params",
    [{"resource": "galaxy"}, {"action": "explode"}, {"limit": "0"}, {"offset": "-1"}, {"resource_id": "x" * 41}],
)
def test_bad_filters_are_refused(admin: httpx.Client, params: dict[str, str]) -> None:
    resp = admin.get("/v1/audit", params=params)
    assert resp.status_code == 422 and resp.headers["content-type"].startswith("application/problem+json")


def test_inference_keys_and_strangers_are_refused(api: Admin) -> None:
    with api.client() as anon:
        assert anon.get("/v1/audit").status_code == 401
    with api.client(api.gw.api_key) as inference:
        assert inference.get("/v1/audit").status_code == 403


def test_a_test_alert_without_a_webhook_is_a_conflict(admin: httpx.Client) -> None:
    resp = admin.post("/v1/alerts/test")
    assert resp.status_code == 409 and "POLYROUTE_ALERT_WEBHOOK_URL" in resp.json()["detail"]
