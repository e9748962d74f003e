"""PATCH /v1/api-keys/{id}: rename a key and replace its metadata; the secret, plan and limits stay."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.admin.conftest import CONFIG_KEY, Admin, unique
from tests.integration.admin.test_bad_input import assert_problem, send


def _new_key(admin: httpx.Client, **extra: Any) -> dict[str, Any]:
    created = admin.post("/v1/api-keys", json={"name": unique("upd"), "plan": "cfg-plan", **extra})
    assert created.status_code == 201, created.text
    key: dict[str, Any] = created.json()
    return key


def test_rename_and_replace_metadata_keep_the_secret(api: Admin, admin: httpx.Client) -> None:
    key = _new_key(admin, limits={"rpm": 7}, metadata={"team": "search", "tier": 1})
    new_name = unique("renamed")
    renamed = admin.patch(f"/v1/api-keys/{key['id']}", json={"name": f"  {new_name} "})
    assert renamed.status_code == 200, renamed.text
    body = renamed.json()
    assert "key" not in body
    assert body["name"] == new_name  # trimmed
    assert body["metadata"] == {"team": "search", "tier": 1}  # absent: unchanged
    assert (body["prefix"], body["plan"], body["limits"]) == (key["prefix"], "cfg-plan", {"rpm": 7})
    assert api.inference(key["key"]) == 200  # same secret

    replaced = admin.patch(f"/v1/api-keys/{key['id']}", json={"metadata": {"team": "ads"}})
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["name"], replaced.json()["metadata"]) == (new_name, {"team": "ads"})  # replaced whole
    both = admin.patch(f"/v1/api-keys/{key['id']}", json={"name": "both", "metadata": {}}).json()
    assert (both["name"], both["metadata"]) == ("both", {})
    got = admin.get(f"/v1/api-keys/{key['id']}").json()
    assert (got["name"], got["metadata"]) == ("both", {})


def test_users_rename_only_their_own_keys(api: Admin, admin: httpx.Client) -> None:
    _, alice = api.user()
    _, bob = api.user()
    with alice, bob:
        mine = alice.post("/v1/api-keys", json={"name": unique("alice")}).json()
        resp = alice.patch(f"/v1/api-keys/{mine['id']}", json={"name": "alice-renamed", "metadata": {"a": 1}})
        assert resp.status_code == 200, resp.text
        assert (resp.json()["name"], resp.json()["metadata"]) == ("alice-renamed", {"a": 1})
        assert_problem(bob.patch(f"/v1/api-keys/{mine['id']}", json={"name": "stolen"}), 404)
    assert admin.get(f"/v1/api-keys/{mine['id']}").json()["name"] == "alice-renamed"


def test_unknown_and_config_file_keys(admin: httpx.Client) -> None:
    missing = assert_problem(admin.patch("/v1/api-keys/key_missing", json={"name": "x"}), 404)
    assert "key_missing" in missing["detail"]
    config_key = next(
        k for k in admin.get("/v1/api-keys", params={"limit": 500}).json()["data"] if k["name"] == "cfg-key"
    )
    owned = assert_problem(admin.patch(f"/v1/api-keys/{config_key['id']}", json={"name": "mine-now"}), 409)
    assert "owned by the config file" in owned["detail"]


def test_bad_bodies_are_problems_and_change_nothing(admin: httpx.Client) -> None:
    key = _new_key(admin, metadata={"keep": True})
    path = f"/v1/api-keys/{key['id']}"
    for content in (b'{"name": ', b"\xff\xfe{}", b"not json"):
        assert "not valid" in assert_problem(send(admin, "PATCH", path, content), 400)["detail"]
    for content in (b"[]", b"null", b'"text"', b"42"):
        assert "JSON object" in assert_problem(send(admin, "PATCH", path, content), 400)["detail"]
    assert "empty" in assert_problem(send(admin, "PATCH", path, b""), 400)["detail"]
    for body, field in [
        ({"name": 5}, "name"),
        ({"name": ["k"]}, "name"),
        ({"metadata": "team=ads"}, "metadata"),
        ({"metadata": None}, "metadata"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),  # blank once trimmed
        ({"name": "x" * 201}, "name"),
        ({"name": "ok", "key": "sk-poly-choose-my-own"}, "key"),  # the secret cannot be set
        ({"name": "ok", "plan": "cfg-plan"}, "plan"),  # only name and metadata change here
    ]:
        problem = assert_problem(admin.patch(path, json=body), 422)
        assert problem["errors"][0]["field"] == field, (body, problem)
        assert problem["error"]["param"] == field
    nothing = assert_problem(admin.patch(path, json={}), 422)  # neither field: a no-op is a client mistake
    assert nothing["errors"][0]["field"] == "name"
    assert "nothing to change" in nothing["detail"]
    too_large = send(admin, "PATCH", path, b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}')
    assert_problem(too_large, 413)
    assert too_large.headers["connection"] == "close"  # the unread rest of the body ends the connection
    got = admin.get(path).json()
    assert (got["name"], got["metadata"]) == (key["name"], {"keep": True})


def test_inference_keys_are_refused(api: Admin, admin: httpx.Client) -> None:
    key = _new_key(admin)
    for client in (api.client(CONFIG_KEY), api.client(**{"X-API-Key": CONFIG_KEY}), api.client(key["key"])):
        with client:
            assert_problem(client.patch(f"/v1/api-keys/{key['id']}", json={"name": "by-inference-key"}), 403)
    assert admin.get(f"/v1/api-keys/{key['id']}").json()["name"] == key["name"]
