"""/v1/api-keys: the secret shown once, revocation and rotation that bite on this replica at once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx

from tests.integration.admin.conftest import Admin, unique, wait_until


def test_create_shows_the_secret_once_and_it_works(api: Admin, admin: httpx.Client) -> None:
    body = {
        "name": unique("k"),
        "plan": "cfg-plan",
        "allowed_models": ["cfg-demo/*"],
        "limits": {"rpm": 5},
        "metadata": {"team": "search"},
        "expires_in_days": 30,
    }
    created = admin.post("/v1/api-keys", json=body)
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["key"].startswith("sk-poly-")
    assert key["key"].startswith(key["prefix"])
    assert (key["plan"], key["allowed_models"], key["limits"], key["metadata"]) == (
        "cfg-plan",
        ["cfg-demo/*"],
        {"rpm": 5},
        {"team": "search"},
    )
    assert datetime.fromisoformat(key["expires_at"]) > datetime.now(UTC) + timedelta(days=29)
    assert api.inference(key["key"]) == 200  # no wait: this replica refreshed before answering
    got = admin.get(f"/v1/api-keys/{key['id']}").json()
    assert "key" not in got
    assert got["prefix"] == key["prefix"]
    assert got["revoked_at"] is None
    listed = admin.get("/v1/api-keys", params={"limit": 500}).json()
    assert key["id"] in {k["id"] for k in listed["data"]}
    assert all("key" not in k and "key_hash" not in k for k in listed["data"])


def test_revoke_stops_the_key_on_this_replica_at_once(api: Admin, admin: httpx.Client) -> None:
    key = admin.post("/v1/api-keys", json={"name": unique("rev"), "plan": "cfg-plan"}).json()
    assert api.inference(key["key"]) == 200
    revoked = admin.delete(f"/v1/api-keys/{key['id']}")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert api.inference(key["key"]) == 401
    assert admin.delete(f"/v1/api-keys/{key['id']}").json()["revoked_at"] == revoked.json()["revoked_at"]
    assert admin.post(f"/v1/api-keys/{key['id']}/rotate").status_code == 409
    filtered = admin.get("/v1/api-keys", params={"revoked": "true", "limit": 500}).json()["data"]
    assert key["id"] in {k["id"] for k in filtered}
    assert all(k["revoked_at"] for k in filtered)


def test_rotate_with_grace_keeps_the_old_secret_until_it_ends(api: Admin, admin: httpx.Client) -> None:
    key = admin.post("/v1/api-keys", json={"name": unique("rot"), "plan": "cfg-plan"}).json()
    rotated = admin.post(f"/v1/api-keys/{key['id']}/rotate", json={"grace_period_s": 2})
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["id"] == key["id"]
    assert new["key"] != key["key"]
    assert new["previous_valid_until"]
    assert api.inference(new["key"]) == 200
    assert api.inference(key["key"]) == 200
    wait_until(lambda: api.inference(key["key"]) == 401, timeout=4)
    assert api.inference(new["key"]) == 200


def test_rotate_without_grace_cuts_the_old_secret_at_once(api: Admin, admin: httpx.Client) -> None:
    key = admin.post("/v1/api-keys", json={"name": unique("rot0"), "plan": "cfg-plan"}).json()
    new = admin.post(f"/v1/api-keys/{key['id']}/rotate").json()  # no body: grace 0
    assert api.inference(key["key"]) == 401
    assert api.inference(new["key"]) == 200
    assert new["previous_valid_until"] is None
    too_long = admin.post(f"/v1/api-keys/{key['id']}/rotate", json={"grace_period_s": 10**9})
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["field"] == "grace_period_s"


def test_expired_key_is_refused(api: Admin, admin: httpx.Client) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    key = admin.post("/v1/api-keys", json={"name": unique("exp"), "plan": "cfg-plan", "expires_at": soon}).json()
    assert api.inference(key["key"]) == 200
    time.sleep(1.6)
    with api.client(key["key"]) as client:
        resp = client.post(
            "/v1/chat/completions", json={"model": "cfg-demo/echo", "messages": [{"role": "user", "content": "x"}]}
        )
    assert resp.status_code == 401
    assert resp.json()["error"]["message"] == "API key expired"


def test_create_validation(admin: httpx.Client) -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    cases = [
        ({"name": "x", "plan": "no-such-plan"}, "plan"),
        ({"name": "x", "user_id": "user_missing"}, "user_id"),
        ({"name": "x", "expires_at": past}, "expires_at"),
        ({"name": "x", "expires_at": "2030-01-01T00:00:00"}, "expires_at"),  # no timezone
        ({"name": "x", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "x", "expires_in_days": 3, "expires_at": "2030-01-01T00:00:00Z"}, "expires_in_days"),
        ({"name": ""}, "name"),
        ({"name": "x", "limits": {"rpm": -1}}, "limits.rpm"),
        ({"name": "x", "key": "sk-poly-choose-my-own-secret"}, "key"),
    ]
    for body, field in cases:
        resp = admin.post("/v1/api-keys", json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["errors"][0]["field"] == field, (body, resp.text)


def test_unknown_and_config_keys(admin: httpx.Client) -> None:
    assert admin.get("/v1/api-keys/key_missing").status_code == 404
    assert admin.delete("/v1/api-keys/key_missing").status_code == 404
    assert admin.post("/v1/api-keys/key_missing/rotate").status_code == 404
    config_key = next(
        k for k in admin.get("/v1/api-keys", params={"limit": 500}).json()["data"] if k["name"] == "cfg-key"
    )
    assert config_key["source"] == "config"
    resp = admin.delete(f"/v1/api-keys/{config_key['id']}")
    assert resp.status_code == 409
    assert "owned by the config file" in resp.json()["detail"]
