"""Provider credentials, key secrets and passwords never show up in the log or in any response."""

from __future__ import annotations

import json

import httpx

from tests.integration.admin.conftest import Admin, unique


def test_secrets_stay_secret(api: Admin) -> None:
    provider_key, password = "sk-prov-" + unique("leakcheck"), "pw-" + unique("leakcheck")
    api.watch.add(provider_key, password)
    seen: list[httpx.Response] = []
    with api.admin() as admin, api.client() as anon:
        admin.event_hooks["response"].append(seen.append)
        anon.event_hooks["response"].append(seen.append)
        name = unique("sec")
        base = {"name": name, "kind": "openai", "base_url": "https://api.example.com/v1", "api_key": provider_key}
        admin.post("/v1/configs", json=base)
        admin.post("/v1/configs", json=base)  # 409 duplicate, with the key in the body
        admin.post("/v1/configs", json={**base, "name": "", "timeout_s": -1})  # 422 with the key in the body
        admin.post("/v1/configs", json={**base, "api_key": 12345})  # wrong type for the key itself
        admin.put(f"/v1/configs/{name}", json={**base, "enabled": False})
        admin.patch(f"/v1/configs/{name}", json={"api_key": provider_key + "x"})
        admin.get(f"/v1/configs/{name}")
        admin.get("/v1/configs", params={"limit": 500})
        created = admin.post("/v1/api-keys", json={"name": unique("k"), "plan": "cfg-plan"})
        secret = created.json()["key"]
        rotated = admin.post(f"/v1/api-keys/{created.json()['id']}/rotate", json={"grace_period_s": 60})
        new_secret = rotated.json()["key"]
        admin.get("/v1/api-keys", params={"limit": 500})
        admin.get(f"/v1/api-keys/{created.json()['id']}")
        with api.client(secret) as as_key:
            as_key.event_hooks["response"].append(seen.append)
            as_key.get("/v1/configs")  # 403 must not echo the key
        admin.post("/v1/users", json={"username": unique("u"), "password": password, "role": "admin"})
        admin.post("/v1/users", json={"username": "", "password": password})
        anon.post("/v1/auth/token", json={"username": "nobody", "password": password})
        anon.post("/v1/auth/token", data={"username": "nobody", "password": password})
        admin.delete(f"/v1/api-keys/{created.json()['id']}")
        admin.delete(f"/v1/configs/{name}")
    responses = [r for r in seen if r is not created and r is not rotated]
    for response in responses:
        text = response.text + json.dumps(dict(response.headers))
        for value in (provider_key, provider_key + "x", password, secret, new_secret):
            assert value not in text, f"{response.request.method} {response.request.url.path} echoed a secret"
    assert new_secret not in created.text
    assert secret not in rotated.text
    log = api.gw.log()
    for value in (provider_key, provider_key + "x", password, secret, new_secret, api.gw.admin_key):
        assert value not in log
