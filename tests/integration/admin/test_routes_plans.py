"""/v1/routes and /v1/plans: CRUD, reference checks, conflicts, and the force path."""

from __future__ import annotations

import httpx

from tests.integration.admin.conftest import Admin, config_path, unique


def test_route_crud_and_it_serves_at_once(api: Admin, admin: httpx.Client) -> None:
    name = unique("route/echo")
    created = admin.post("/v1/routes", json={"name": name, "targets": [{"provider": "cfg-demo", "model": "echo"}]})
    assert created.status_code == 201, created.text
    route = created.json()
    assert (route["strategy"], route["enabled"], route["source"]) == ("priority-fallback", True, "api")
    with api.client(api.gw.api_key) as client:
        chat = client.post("/v1/chat/completions", json={"model": name, "messages": [{"role": "user", "content": "x"}]})
    assert chat.status_code == 200, chat.text
    assert admin.get(f"/v1/routes/{route['id']}").json() == admin.get(f"/v1/routes/{name}").json() == route
    patched = admin.patch(f"/v1/routes/{name}", json={"enabled": False, "params": {"retries": 3}})
    assert patched.status_code == 200
    assert patched.json()["params"] == {"retries": 3}
    assert patched.json()["targets"] == route["targets"]
    assert not patched.json()["enabled"]
    replaced = admin.put(
        f"/v1/routes/{name}", json={"name": name, "targets": [{"provider": "cfg-demo", "model": "echo", "priority": 2}]}
    )
    assert replaced.json()["enabled"]
    assert replaced.json()["params"] == {}
    listed = admin.get("/v1/routes", params={"enabled": "true", "strategy": "priority-fallback"}).json()
    assert name in {r["name"] for r in listed["data"]}
    assert listed["total"] >= 2
    assert admin.delete(f"/v1/routes/{name}").status_code == 204
    assert admin.get(f"/v1/routes/{name}").status_code == 404


def test_route_validation_checks_strategy_and_targets(admin: httpx.Client) -> None:
    resp = admin.post(
        "/v1/routes",
        json={
            "name": unique("route/bad"),
            "strategy": "coin-flip",
            "targets": [{"provider": "nope", "model": "x"}, {"provider": "cfg-demo", "model": "not-listed"}],
        },
    )
    assert resp.status_code == 422
    errors = {e["field"]: e["message"] for e in resp.json()["errors"]}
    assert set(errors) == {"strategy", "targets[0].provider", "targets[1].model"}
    assert "priority-fallback" in errors["strategy"]
    empty = admin.post("/v1/routes", json={"name": unique("route/empty"), "targets": []})
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "targets"
    name = unique("route/dup")
    body = {"name": name, "targets": [{"provider": "cfg-demo", "model": "echo"}]}
    assert admin.post("/v1/routes", json=body).status_code == 201
    assert admin.post("/v1/routes", json=body).status_code == 409


def test_config_route_is_read_only(api: Admin, admin: httpx.Client) -> None:
    assert admin.get("/v1/routes/route/cfg").json()["source"] == "config"
    resp = admin.patch("/v1/routes/route/cfg", json={"enabled": False})
    assert resp.status_code == 409
    assert resp.json()["detail"] == (
        f"Route 'route/cfg' is owned by the config file {config_path(api.gw)}; edit the file"
    )
    assert admin.delete("/v1/routes/route/cfg").status_code == 409


def test_plan_crud(admin: httpx.Client) -> None:
    name = unique("plan")
    created = admin.post("/v1/plans", json={"name": name, "models": ["route/*"], "rpm": 10})
    assert created.status_code == 201, created.text
    plan = created.json()
    assert (plan["models"], plan["rpm"], plan["daily_requests"], plan["source"]) == (["route/*"], 10, None, "api")
    patched = admin.patch(f"/v1/plans/{name}", json={"rpm": None, "daily_requests": 5})
    assert (patched.json()["rpm"], patched.json()["daily_requests"], patched.json()["models"]) == (None, 5, ["route/*"])
    replaced = admin.put(f"/v1/plans/{plan['id']}", json={"name": name})
    assert replaced.json()["models"] == ["*"]
    assert replaced.json()["daily_requests"] is None
    negative = admin.post("/v1/plans", json={"name": unique("neg"), "monthly_budget_usd": -1, "rpm": -2})
    assert {e["field"] for e in negative.json()["errors"]} == {"monthly_budget_usd", "rpm"}
    assert admin.post("/v1/plans", json={"name": name}).status_code == 409
    per_user = admin.patch(f"/v1/plans/{name}", json={"end_user_limits": {"rpm": 3, "monthly_budget_usd": 0.5}})
    assert per_user.json()["end_user_limits"] == {"rpm": 3, "monthly_budget_usd": 0.5}
    assert admin.patch(f"/v1/plans/{name}", json={"tpm": 9}).json()["end_user_limits"]["rpm"] == 3  # kept
    for bad in ({"rpm": -1}, {"rpmm": 1}, {"rpm": "many"}, [1]):
        refused = admin.patch(f"/v1/plans/{name}", json={"end_user_limits": bad})
        assert refused.status_code in (400, 422) and "end_user_limits" in refused.text, refused.text
    cleared = admin.patch(f"/v1/plans/{name}", json={"end_user_limits": None})
    assert cleared.json()["end_user_limits"] is None
    assert name in {p["name"] for p in admin.get("/v1/plans", params={"limit": 500}).json()["data"]}
    assert admin.delete(f"/v1/plans/{name}").status_code == 204


def test_plan_in_use_is_409_with_counts_and_force_revokes_its_keys(api: Admin, admin: httpx.Client) -> None:
    name = unique("busy")
    admin.post("/v1/plans", json={"name": name})
    keys = [admin.post("/v1/api-keys", json={"name": unique("k"), "plan": name}).json() for _ in range(2)]
    user, client = api.user(plan=name)
    client.close()
    team = admin.post("/v1/teams", json={"name": unique("team"), "plan": name}).json()
    assert api.inference(keys[0]["key"]) == 200
    refused = admin.delete(f"/v1/plans/{name}")
    assert refused.status_code == 409
    assert (refused.json()["api_keys"], refused.json()["users"], refused.json()["teams"]) == (2, 1, 1)
    assert "2 API keys, 1 users and 1 teams" in refused.json()["detail"]
    renamed = admin.patch(f"/v1/plans/{name}", json={"name": name + "-x"})
    assert renamed.status_code == 409
    assert admin.delete(f"/v1/plans/{name}", params={"force": "true"}).status_code == 204
    assert api.inference(keys[0]["key"]) == 401  # revoked, not silently unlimited
    assert admin.get(f"/v1/api-keys/{keys[1]['id']}").json()["revoked_at"] is not None
    assert admin.get(f"/v1/users/{user['id']}").json()["plan"] is None
    assert admin.get(f"/v1/teams/{team['id']}").json()["plan"] is None


def test_config_plan_is_read_only(admin: httpx.Client) -> None:
    assert admin.put("/v1/plans/cfg-plan", json={"name": "cfg-plan"}).status_code == 409
    assert admin.delete("/v1/plans/cfg-plan", params={"force": "true"}).status_code == 409
