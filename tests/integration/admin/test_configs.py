"""/v1/configs against the real gateway: CRUD, write-only credentials, validation, ownership, force delete."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fakes.openai import FakeOpenAI
from tests.integration.admin.conftest import Admin, config_path, unique


def provider_body(name: str, upstream: FakeOpenAI | None = None, **extra: Any) -> dict[str, Any]:
    base = upstream.base_url + "/v1" if upstream else "https://api.example.com/v1"
    return {
        "name": name,
        "kind": "openai",
        "base_url": base,
        "models": [{"id": "gpt-fake", "input_cost_per_mtok": 1.0, "output_cost_per_mtok": 2.0}],
        **extra,
    }


def test_create_then_serve_immediately_and_key_is_write_only(
    api: Admin, admin: httpx.Client, fake_upstream: FakeOpenAI
) -> None:
    name, secret = unique("up"), "sk-upstream-" + unique("secret")
    api.watch.add(secret)
    created = admin.post("/v1/configs", json=provider_body(name, fake_upstream, api_key=secret))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["api_key_hint"] == f"sk-...{secret[-4:]}"
    assert "api_key" not in body
    assert body["source"] == "api"
    assert body["id"].startswith("prov_")
    # no sleep: the write refreshed this replica's snapshot before responding
    with api.client(api.gw.api_key) as client:
        chat = client.post(
            "/v1/chat/completions", json={"model": f"{name}/gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
        )
    assert chat.status_code == 200, chat.text
    assert fake_upstream.received[-1].headers["Authorization"] == f"Bearer {secret}"
    by_id, by_name = admin.get(f"/v1/configs/{body['id']}"), admin.get(f"/v1/configs/{name}")
    assert by_id.json() == by_name.json() == body


def test_list_is_paginated_and_filterable(admin: httpx.Client) -> None:
    kind_names = [unique("pg") for _ in range(3)]
    for name in kind_names:
        assert admin.post("/v1/configs", json=provider_body(name, enabled=name != kind_names[0])).status_code == 201
    everything = admin.get("/v1/configs", params={"limit": 500}).json()
    assert everything["total"] == len(everything["data"]) >= 4
    assert everything["offset"] == 0
    first = admin.get("/v1/configs", params={"limit": 2, "offset": 0}).json()
    second = admin.get("/v1/configs", params={"limit": 2, "offset": 2}).json()
    assert first["limit"] == 2
    assert len(first["data"]) == 2
    assert first["total"] == everything["total"]
    assert {p["id"] for p in first["data"]}.isdisjoint(p["id"] for p in second["data"])
    demo = admin.get("/v1/configs", params={"kind": "demo"}).json()
    assert demo["data"]
    assert all(p["kind"] == "demo" for p in demo["data"])
    disabled = admin.get("/v1/configs", params={"enabled": "false"}).json()
    assert kind_names[0] in {p["name"] for p in disabled["data"]}
    assert all(not p["enabled"] for p in disabled["data"])


def test_patch_changes_only_given_fields_and_null_api_key_removes_it(api: Admin, admin: httpx.Client) -> None:
    name = unique("patch")
    api.watch.add("sk-patch-secret-123456")
    created = admin.post("/v1/configs", json=provider_body(name, api_key="sk-patch-secret-123456", timeout_s=5))
    patched = admin.patch(f"/v1/configs/{name}", json={"enabled": False, "timeout_s": 9.5})
    assert patched.status_code == 200, patched.text
    got = patched.json()
    assert (got["enabled"], got["timeout_s"], got["models"], got["api_key_hint"]) == (
        False,
        9.5,
        created.json()["models"],
        created.json()["api_key_hint"],
    )
    cleared = admin.patch(f"/v1/configs/{name}", json={"api_key": None})
    assert cleared.json()["api_key_hint"] is None


def test_put_replaces_everything_but_keeps_the_unsent_key(api: Admin, admin: httpx.Client) -> None:
    name = unique("put")
    api.watch.add("sk-put-secret-12345678")
    admin.post(
        "/v1/configs", json=provider_body(name, api_key="sk-put-secret-12345678", timeout_s=5, headers={"x-team": "a"})
    )
    replaced = admin.put(
        f"/v1/configs/{name}",
        json={"name": name, "kind": "openai-compatible", "base_url": "https://other.example.com/v1"},
    )
    assert replaced.status_code == 200, replaced.text
    got = replaced.json()
    assert (got["kind"], got["timeout_s"], got["models"], got["headers"]) == ("openai-compatible", 60.0, [], {})
    assert got["api_key_hint"] == "sk-...5678"
    renamed = admin.put(
        f"/v1/configs/{got['id']}",
        json={"name": name + "-2", "kind": "openai", "base_url": "https://other.example.com/v1"},
    )
    assert renamed.json()["name"] == name + "-2"
    assert admin.get(f"/v1/configs/{name}").status_code == 404


def test_validation_names_every_bad_field(admin: httpx.Client) -> None:
    resp = admin.post(
        "/v1/configs",
        json={
            "name": "",
            "kind": "nope",
            "base_url": "ftp://x",
            "timeout_s": "5",
            "bogus": 1,
            "models": [{"id": "m", "input_cost_per_mtok": -1}],
        },
    )
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"name", "kind", "base_url", "timeout_s", "bogus", "models[0].input_cost_per_mtok"}
    assert body["code"] == "VALIDATION_ERROR"
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert "unknown field" in body["detail"]
    missing = admin.post("/v1/configs", json={"kind": "openai"}).json()
    assert missing["errors"] == [{"field": "name", "message": "required field is missing"}]


def test_url_rules_and_ssrf_allow_list(admin: httpx.Client) -> None:
    cases = {
        "http://169.254.169.254/latest": "not an allowed upstream host",
        "https://evil.com/v1": "not an allowed upstream host",
        "http://:8080/v1": "no host",
        "http://127.0.0.1:99999/v1": "port",
        "https://user:pw@api.example.com/v1": "must not embed credentials",
        "inproc://demo": "only for kind 'demo'",
    }
    for url, message in cases.items():
        resp = admin.post("/v1/configs", json=provider_body(unique("ssrf"), base_url=url))
        assert resp.status_code == 422, (url, resp.text)
        assert resp.json()["errors"][0]["field"] == "base_url"
        assert message in resp.json()["errors"][0]["message"]
    no_url = admin.post("/v1/configs", json={"name": unique("nourl"), "kind": "openai"})
    assert no_url.status_code == 422
    assert no_url.json()["errors"][0]["field"] == "base_url"
    ok = admin.post("/v1/configs", json=provider_body(unique("ok"), base_url="https://eu.api.example.com/v1"))
    assert ok.status_code == 201


def test_duplicate_name_is_409_and_unknown_is_404(admin: httpx.Client) -> None:
    name = unique("dup")
    assert admin.post("/v1/configs", json=provider_body(name)).status_code == 201
    again = admin.post("/v1/configs", json=provider_body(name))
    assert again.status_code == 409
    assert again.json()["code"] == "CONFLICT"
    assert name in again.json()["detail"]
    duplicate_models = provider_body(unique("dupm"), models=[{"id": "a"}, {"id": "a"}])
    assert admin.post("/v1/configs", json=duplicate_models).json()["errors"][0]["field"] == "models[1].id"
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        kwargs = {"json": provider_body("x")} if method == "PUT" else {"json": {}} if method == "PATCH" else {}
        assert admin.request(method, "/v1/configs/prov_missing", **kwargs).status_code == 404


def test_config_file_objects_are_read_only(api: Admin, admin: httpx.Client) -> None:
    got = admin.get("/v1/configs/cfg-demo")
    assert got.status_code == 200
    assert got.json()["source"] == "config"
    path = str(config_path(api.gw))
    attempts = [
        admin.put("/v1/configs/cfg-demo", json={"name": "cfg-demo", "kind": "demo"}),
        admin.patch("/v1/configs/cfg-demo", json={"enabled": False}),
        admin.delete("/v1/configs/cfg-demo"),
        admin.delete("/v1/configs/cfg-demo", params={"force": "true"}),
    ]
    for resp in attempts:
        assert resp.status_code == 409, resp.text
        assert resp.json()["detail"] == f"Provider 'cfg-demo' is owned by the config file {path}; edit the file"


def test_delete_in_use_is_409_naming_routes_and_force_cleans_up(admin: httpx.Client) -> None:
    gone, other = unique("gone"), unique("other")
    for name in (gone, other):
        assert admin.post("/v1/configs", json=provider_body(name)).status_code == 201
    shared, only = unique("route/shared"), unique("route/only")
    admin.post(
        "/v1/routes",
        json={
            "name": shared,
            "targets": [{"provider": gone, "model": "gpt-fake"}, {"provider": other, "model": "gpt-fake"}],
        },
    )
    admin.post("/v1/routes", json={"name": only, "targets": [{"provider": gone, "model": "gpt-fake"}]})
    refused = admin.delete(f"/v1/configs/{gone}")
    assert refused.status_code == 409
    assert refused.json()["routes"] == sorted([shared, only])
    assert shared in refused.json()["detail"]
    assert admin.delete(f"/v1/configs/{gone}", params={"force": "true"}).status_code == 204
    assert admin.get(f"/v1/configs/{gone}").status_code == 404
    assert admin.get(f"/v1/routes/{only}").status_code == 404
    assert admin.get(f"/v1/routes/{shared}").json()["targets"] == [{"provider": other, "model": "gpt-fake"}]
    assert admin.delete(f"/v1/configs/{other}", params={"force": "true"}).status_code == 204
    assert admin.get(f"/v1/routes/{shared}").status_code == 404


def test_rename_of_a_targeted_provider_is_refused(admin: httpx.Client) -> None:
    name = unique("ren")
    admin.post("/v1/configs", json=provider_body(name))
    admin.post("/v1/routes", json={"name": unique("route/ren"), "targets": [{"provider": name, "model": "gpt-fake"}]})
    resp = admin.patch(f"/v1/configs/{name}", json={"name": name + "-new"})
    assert resp.status_code == 409
    assert "renaming" in resp.json()["detail"]


def test_sensitive_header_values_are_masked(api: Admin, admin: httpx.Client) -> None:
    api.watch.add("hdr-secret-value-987654")
    body = provider_body(unique("hdr"), headers={"api-key": "hdr-secret-value-987654", "x-team": "blue"})
    created = admin.post("/v1/configs", json=body)
    assert created.json()["headers"] == {"api-key": "hdr...7654", "x-team": "blue"}
    bad = admin.post("/v1/configs", json=provider_body(unique("hdr"), headers={"bad header": "x"}))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "headers.bad header"


def test_an_unknown_quirks_row_is_refused_and_a_known_one_kept(admin: httpx.Client) -> None:
    name = unique("compat")
    refused = admin.post("/v1/configs", json=provider_body(name, kind="openai-compatible", quirks="grok"))
    assert refused.status_code in (400, 422) and "unknown vendor row 'grok'" in refused.text, refused.text
    created = admin.post("/v1/configs", json=provider_body(name, kind="openai-compatible", quirks="chat-only"))
    assert created.status_code == 201, created.text
    assert admin.get(f"/v1/configs/{name}").json()["quirks"] == "chat-only"
    assert admin.patch(f"/v1/configs/{name}", json={"quirks": "ollamma"}).status_code in (400, 422)
    assert admin.delete(f"/v1/configs/{name}").status_code == 204


def test_batch_cost_factor_is_a_share_of_the_price(admin: httpx.Client) -> None:
    name = unique("batchy")
    assert admin.post("/v1/configs", json=provider_body(name)).json()["batch_cost_factor"] is None  # the kind's
    assert admin.patch(f"/v1/configs/{name}", json={"batch_cost_factor": 0.4}).json()["batch_cost_factor"] == 0.4
    for bad in (1.5, -0.1, "half"):
        refused = admin.patch(f"/v1/configs/{name}", json={"batch_cost_factor": bad})
        assert refused.status_code in (400, 422) and "batch_cost_factor" in refused.text, refused.text
    assert admin.patch(f"/v1/configs/{name}", json={"batch_cost_factor": None}).json()["batch_cost_factor"] is None
    assert admin.delete(f"/v1/configs/{name}").status_code == 204
