"""Who may call what: admin key, admin and user JWTs, inference keys, and nobody."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from app.api.auth import signing_key
from app.settings import Settings
from tests.integration.admin.conftest import CONFIG_KEY, Admin, unique

ADMIN_ONLY = [
    ("GET", "/v1/configs"),
    ("POST", "/v1/configs"),
    ("GET", "/v1/configs/x"),
    ("PUT", "/v1/configs/x"),
    ("PATCH", "/v1/configs/x"),
    ("DELETE", "/v1/configs/x"),
    ("GET", "/v1/routes"),
    ("POST", "/v1/routes"),
    ("GET", "/v1/routes/route/x"),
    ("PUT", "/v1/routes/route/x"),
    ("PATCH", "/v1/routes/route/x"),
    ("DELETE", "/v1/routes/route/x"),
    ("GET", "/v1/plans"),
    ("POST", "/v1/plans"),
    ("GET", "/v1/plans/x"),
    ("PUT", "/v1/plans/x"),
    ("PATCH", "/v1/plans/x"),
    ("DELETE", "/v1/plans/x"),
    ("GET", "/v1/users"),
    ("POST", "/v1/users"),
    ("GET", "/v1/users/x"),
    ("PATCH", "/v1/users/x"),
    ("DELETE", "/v1/users/x"),
]
ACCOUNT = [
    ("GET", "/v1/api-keys"),
    ("POST", "/v1/api-keys"),
    ("GET", "/v1/api-keys/x"),
    ("DELETE", "/v1/api-keys/x"),
    ("POST", "/v1/api-keys/x/rotate"),
    ("GET", "/v1/auth/me"),
]
EVERY_ENDPOINT = ADMIN_ONLY + ACCOUNT


def forged(api: Admin, **claims: object) -> str:
    key = signing_key(Settings(data_dir=str(api.gw.data_dir)))
    now = int(time.time())
    body = {"sub": "user_x", "iss": "polyroute", "iat": now, "exp": now + 60, **claims}
    return jwt.encode(body, key, algorithm="HS256")


def statuses(client: httpx.Client, endpoints: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    return {
        (m, p): client.request(m, p, json={} if m in ("POST", "PUT", "PATCH") else None).status_code
        for m, p in endpoints
    }


def test_no_credentials_is_401_everywhere(api: Admin) -> None:
    with api.client() as anon:
        for (method, path), status in statuses(anon, EVERY_ENDPOINT).items():
            assert status == 401, (method, path)
        resp = anon.get("/v1/configs")
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["code"] == "AUTHENTICATION_ERROR"


def test_inference_key_is_403_everywhere(api: Admin) -> None:
    for client in (api.client(CONFIG_KEY), api.client(**{"X-API-Key": CONFIG_KEY})):
        with client:
            for (method, path), status in statuses(client, EVERY_ENDPOINT).items():
                assert status == 403, (method, path)


@pytest.mark.parametrize("kind", ["garbage", "wrong-signature", "expired", "alg-none", "unknown-user", "no-exp"])
def test_bad_tokens_are_401(api: Admin, kind: str) -> None:
    tokens = {
        "garbage": "not-a-token",
        "wrong-signature": jwt.encode({"sub": "u", "iss": "polyroute", "iat": 1, "exp": 2**40}, b"k" * 32, "HS256"),
        "expired": forged(api, exp=int(time.time()) - 5),
        "alg-none": jwt.encode({"sub": "u", "iss": "polyroute", "iat": 1, "exp": 2**40}, None, algorithm="none"),
        "unknown-user": forged(api, sub="user_nobody"),
        "no-exp": jwt.encode(
            {"sub": "u", "iss": "polyroute", "iat": 1}, signing_key(Settings(data_dir=str(api.gw.data_dir))), "HS256"
        ),
    }
    with api.client(tokens[kind]) as client:
        resp = client.get("/v1/api-keys")
    assert resp.status_code == 401, resp.text
    if kind == "expired":
        assert "expired" in resp.json()["detail"]


def test_token_endpoint_json_and_form(api: Admin) -> None:
    user, client = api.user(role="admin", plan="cfg-plan")
    client.close()
    password = user["password"]
    with api.client() as anon:
        form = anon.post(
            "/v1/auth/token",
            data={"username": user["username"], "password": password, "grant_type": "password", "scope": ""},
        )
        assert form.status_code == 200, form.text
        assert form.json()["token_type"] == "bearer"
        assert form.json()["expires_in"] == 3600
        for body in (
            {"username": user["username"], "password": "wrong-password"},
            {"username": "nobody-" + unique("u"), "password": password},
        ):
            wrong = anon.post("/v1/auth/token", json=body)
            assert wrong.status_code == 401
            assert wrong.json()["detail"] == "Invalid username or password"
        missing = anon.post("/v1/auth/token", json={"username": user["username"]})
        assert missing.status_code == 422
        assert missing.json()["errors"][0]["field"] == "password"
    with api.client(form.json()["access_token"]) as admin_user:
        me = admin_user.get("/v1/auth/me").json()
        assert (me["role"], me["via"], me["username"]) == ("admin", "token", user["username"])
        for (method, path), status in statuses(admin_user, EVERY_ENDPOINT).items():
            assert status not in (401, 403), (method, path)


def test_user_token_is_limited_to_own_keys(api: Admin, admin: httpx.Client) -> None:
    user, client = api.user(plan="cfg-plan")
    other, other_client = api.user(plan="cfg-plan")
    with client, other_client:
        for (method, path), status in statuses(client, ADMIN_ONLY).items():
            assert status == 403, (method, path)
        me = client.get("/v1/auth/me").json()
        assert (me["role"], me["user_id"], me["plan"]) == ("user", user["id"], "cfg-plan")
        mine = client.post("/v1/api-keys", json={"name": "mine", "limits": {"rpm": 3}})
        assert mine.status_code == 201, mine.text
        key = mine.json()
        assert (key["plan"], key["user_id"]) == ("cfg-plan", user["id"])
        assert api.inference(key["key"]) == 200
        theirs = other_client.post("/v1/api-keys", json={"name": "theirs"}).json()
        admins = admin.post("/v1/api-keys", json={"name": unique("adm"), "plan": "cfg-plan"}).json()
        listed = client.get("/v1/api-keys").json()
        assert [k["id"] for k in listed["data"]] == [key["id"]]
        assert listed["total"] == 1
        assert client.get("/v1/api-keys", params={"user_id": other["id"]}).json()["total"] == 1
        for foreign in (theirs["id"], admins["id"]):
            assert client.get(f"/v1/api-keys/{foreign}").status_code == 404
            assert client.delete(f"/v1/api-keys/{foreign}").status_code == 404
            assert client.post(f"/v1/api-keys/{foreign}/rotate").status_code == 404
        rotated = client.post(f"/v1/api-keys/{key['id']}/rotate")
        assert rotated.status_code == 200
        assert api.inference(rotated.json()["key"]) == 200
        assert client.delete(f"/v1/api-keys/{key['id']}").status_code == 200
        assert api.inference(rotated.json()["key"]) == 401
        assert api.inference(theirs["key"]) == 200


def test_user_cannot_pick_a_plan_or_raise_limits(api: Admin, admin: httpx.Client) -> None:
    plan = unique("capped")
    admin.post("/v1/plans", json={"name": plan, "rpm": 10, "daily_requests": 100, "targets": ["cheap/*"]})
    _, client = api.user(plan=plan)
    with client:
        for body in (
            {"name": "k", "plan": "cfg-plan"},
            {"name": "k", "limits": {"rpm": 11}},
            {"name": "k", "limits": {"daily_requests": 1000}},
            {"name": "k", "limits": {"targets": ["*"]}},  # the plan's targets are the admin's to widen
            {"name": "k", "user_id": "user_other"},
        ):
            resp = client.post("/v1/api-keys", json=body)
            assert resp.status_code == 403, (body, resp.text)
        lower = client.post("/v1/api-keys", json={"name": "k", "plan": plan, "limits": {"rpm": 2}})
        assert lower.status_code == 201
        assert lower.json()["limits"] == {"rpm": 2}


def test_users_crud_and_password_is_write_only(api: Admin, admin: httpx.Client) -> None:
    name, password = unique("carol"), "first-password-1"
    api.watch.add(password, "second-password-2")
    created = admin.post("/v1/users", json={"username": name, "password": password, "plan": "cfg-plan"})
    assert created.status_code == 201, created.text
    user = created.json()
    assert set(user) == {"id", "username", "role", "plan", "disabled", "created_at", "updated_at"}
    assert admin.post("/v1/users", json={"username": name, "password": password, "plan": "cfg-plan"}).status_code == 409
    no_plan = admin.post("/v1/users", json={"username": unique("np"), "password": password, "role": "user"})
    assert no_plan.status_code == 422
    assert no_plan.json()["errors"][0]["field"] == "plan"
    short = admin.post("/v1/users", json={"username": unique("s"), "password": "short", "role": "admin"})
    assert short.status_code == 422
    assert short.json()["errors"][0]["field"] == "password"
    token = api.token(name, password)
    assert admin.patch(f"/v1/users/{name}", json={"password": "second-password-2"}).status_code == 200
    assert api.token(name, "second-password-2")
    with api.client() as anon:
        assert anon.post("/v1/auth/token", json={"username": name, "password": password}).status_code == 401
    assert admin.patch(f"/v1/users/{user['id']}", json={"disabled": True}).json()["disabled"] is True
    with api.client(token) as client:
        assert client.get("/v1/auth/me").status_code == 401  # disabled bites at once
    listed = admin.get("/v1/users", params={"role": "user", "limit": 500}).json()
    assert name in {u["username"] for u in listed["data"]}
    assert all(u["role"] == "user" for u in listed["data"])
    assert admin.delete(f"/v1/users/{name}").status_code == 204
    assert admin.get(f"/v1/users/{name}").status_code == 404


def test_deleting_a_user_revokes_their_keys_and_token(api: Admin, admin: httpx.Client) -> None:
    user, client = api.user(plan="cfg-plan")
    with client:
        key = client.post("/v1/api-keys", json={"name": "k"}).json()
        assert admin.delete(f"/v1/users/{user['id']}").status_code == 204
        assert client.get("/v1/auth/me").status_code == 401
    assert api.inference(key["key"]) == 401
