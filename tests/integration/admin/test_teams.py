"""/v1/teams: teams, their members, the keys made in them, and who may see and change what."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.admin.conftest import Admin, unique, wait_until


def make_team(admin: httpx.Client, **fields: Any) -> dict[str, Any]:
    made = admin.post("/v1/teams", json={"name": unique("team"), **fields})
    assert made.status_code == 201, made.text
    team: dict[str, Any] = made.json()
    return team


def add(client: httpx.Client, team: str, user: str, role: str = "member") -> httpx.Response:
    return client.put(f"/v1/teams/{team}/members/{user}", json={"role": role})


def test_a_team_is_created_changed_listed_and_its_plan_checked(admin: httpx.Client) -> None:
    team = make_team(admin, plan="cfg-plan", models=["cfg-demo/*"], limits={"rpm": 30, "monthly_budget_usd": 5})
    assert team["plan"] == "cfg-plan" and team["models"] == ["cfg-demo/*"]
    assert team["limits"] == {"rpm": 30, "monthly_budget_usd": 5.0} and team["members"] == []
    assert admin.get(f"/v1/teams/{team['name']}").json()["id"] == team["id"]
    changed = admin.patch(f"/v1/teams/{team['id']}", json={"models": None, "limits": {"daily_requests": 9}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["models"] is None and changed.json()["limits"] == {"daily_requests": 9}
    assert team["name"] in [t["name"] for t in admin.get("/v1/teams", params={"limit": 500}).json()["data"]]

    unknown = admin.patch(f"/v1/teams/{team['id']}", json={"plan": "no-such-plan"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "plan"
    clash = admin.post("/v1/teams", json={"name": team["name"]})
    assert clash.status_code == 409 and clash.headers["x-error-code"]
    assert admin.get("/v1/teams/no-such-team").status_code == 404


def test_keys_made_in_a_team_take_its_plan_and_deleting_it_revokes_them(api: Admin, admin: httpx.Client) -> None:
    team = make_team(admin, plan="cfg-plan")
    key = admin.post("/v1/api-keys", json={"name": "in-team", "team": team["name"]})
    assert key.status_code == 201, key.text
    assert key.json()["team_id"] == team["id"] and key.json()["plan"] == "cfg-plan"
    assert [k["id"] for k in admin.get("/v1/api-keys", params={"team_id": team["id"]}).json()["data"]] == [
        key.json()["id"]
    ]
    wrong = admin.post("/v1/api-keys", json={"name": "x", "team": "no-such-team"})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "team"

    refused = admin.delete(f"/v1/teams/{team['id']}")
    assert refused.status_code == 409 and "1 active API keys" in refused.json()["detail"]
    assert api.inference(key.json()["key"]) == 200
    assert admin.delete(f"/v1/teams/{team['id']}", params={"force": "true"}).status_code == 204
    assert admin.get(f"/v1/api-keys/{key.json()['id']}").json()["revoked_at"] is not None
    wait_until(lambda: api.inference(key.json()["key"]) == 401)


def test_members_make_keys_in_their_team_and_team_admins_manage_them(api: Admin, admin: httpx.Client) -> None:
    team = make_team(admin)
    lead, lead_client = api.user()
    dev, dev_client = api.user()
    outsider, outsider_client = api.user()
    assert add(admin, team["name"], lead["username"], "admin").status_code == 200
    with lead_client, dev_client, outsider_client:
        # A team admin adds members; a plain member cannot.
        members = add(lead_client, team["name"], dev["id"]).json()["members"]
        assert {m["username"]: m["role"] for m in members} == {lead["username"]: "admin", dev["username"]: "member"}
        assert add(dev_client, team["name"], outsider["username"]).status_code == 403
        assert outsider_client.get(f"/v1/teams/{team['name']}").status_code == 404
        assert [t["name"] for t in dev_client.get("/v1/teams").json()["data"]] == [team["name"]]
        assert outsider_client.get("/v1/teams").json()["data"] == []
        assert outsider_client.patch(f"/v1/teams/{team['name']}", json={"plan": None}).status_code == 403

        # A member's key in the team; an outsider cannot make one there.
        made = dev_client.post("/v1/api-keys", json={"name": "dev-key", "team": team["name"]})
        assert made.status_code == 201, made.text
        assert made.json()["team_id"] == team["id"] and made.json()["user_id"] == dev["id"]
        assert made.json()["plan"] == "cfg-plan"  # the team has no plan: the user's own
        stranger = outsider_client.post("/v1/api-keys", json={"name": "nope", "team": team["name"]})
        assert stranger.status_code == 403 and "not a member" in stranger.json()["detail"]

        # The team admin sees and can revoke the member's team key; the outsider cannot see it.
        key_id = made.json()["id"]
        assert key_id in [k["id"] for k in lead_client.get("/v1/api-keys").json()["data"]]
        assert outsider_client.get(f"/v1/api-keys/{key_id}").status_code == 404
        renamed = lead_client.patch(f"/v1/api-keys/{key_id}", json={"name": "renamed-by-lead"})
        assert renamed.status_code == 200 and renamed.json()["name"] == "renamed-by-lead"

        # Removing the member revokes the keys they made in the team.
        removed = lead_client.delete(f"/v1/teams/{team['name']}/members/{dev['username']}")
        assert removed.status_code == 200 and [m["username"] for m in removed.json()["members"]] == [lead["username"]]
        assert admin.get(f"/v1/api-keys/{key_id}").json()["revoked_at"] is not None
        assert lead_client.delete(f"/v1/teams/{team['name']}/members/{dev['username']}").status_code == 404
        assert dev_client.get(f"/v1/teams/{team['name']}").status_code == 404


def test_a_team_with_a_plan_gives_it_to_its_members_keys(api: Admin, admin: httpx.Client) -> None:
    plan = unique("team-plan")
    assert admin.post("/v1/plans", json={"name": plan, "models": ["*"], "rpm": 7}).status_code == 201
    team = make_team(admin, plan=plan)
    dev, dev_client = api.user()
    assert add(admin, team["id"], dev["id"]).status_code == 200
    with dev_client:
        made = dev_client.post("/v1/api-keys", json={"name": "k", "team": team["id"]})
        assert made.status_code == 201 and made.json()["plan"] == plan
        higher = dev_client.post("/v1/api-keys", json={"name": "k", "team": team["id"], "limits": {"rpm": 8}})
        assert higher.status_code == 403 and "rpm" in higher.json()["detail"]


def test_team_changes_are_in_the_audit_log(api: Admin, admin: httpx.Client) -> None:
    team = make_team(admin, limits={"rpm": 5})
    user, user_client = api.user()
    user_client.close()
    add(admin, team["id"], user["username"], "admin")
    add(admin, team["id"], user["username"], "member")
    admin.delete(f"/v1/teams/{team['id']}/members/{user['username']}")
    events = admin.get("/v1/audit", params={"resource": "team", "resource_id": team["id"]}).json()["data"]
    removed, demoted, added, created = events
    assert created["action"] == "create" and created["changes"]["limits"] == {"rpm": 5}
    assert added["changes"] == {"member": user["username"], "role": "admin"}
    assert demoted["changes"]["role"] == {"from": "admin", "to": "member"}
    assert removed["changes"] == {"member_removed": user["username"], "api_keys_revoked": 0}
