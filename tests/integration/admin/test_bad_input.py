"""Every management endpoint that takes a body: malformed, wrong, missing or oversized -> 400/413/422, never 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.admin.conftest import Admin

# (method, path, a body with one wrongly typed field and the field's name, whether {} misses required fields)
BODY_ENDPOINTS: list[tuple[str, str, dict[str, Any], str, bool]] = [
    ("POST", "/v1/configs", {"name": 5, "kind": "openai"}, "name", True),
    ("PUT", "/v1/configs/cfg-x", {"name": "a", "kind": "openai", "timeout_s": "60"}, "timeout_s", True),
    ("PATCH", "/v1/configs/cfg-x", {"enabled": "yes"}, "enabled", False),
    ("POST", "/v1/routes", {"name": "r", "targets": "cfg-demo"}, "targets", True),
    ("PUT", "/v1/routes/route/x", {"name": "r", "targets": [{"provider": "p", "model": 1}]}, "targets", True),
    ("PATCH", "/v1/routes/route/x", {"enabled": 1}, "enabled", False),
    ("POST", "/v1/plans", {"name": "p", "rpm": "10"}, "rpm", True),
    ("PUT", "/v1/plans/p", {"name": "p", "models": "*"}, "models", True),
    ("PATCH", "/v1/plans/p", {"daily_requests": 1.5}, "daily_requests", False),
    ("POST", "/v1/users", {"username": "u", "password": 12345678}, "password", True),
    ("PATCH", "/v1/users/u", {"disabled": "true"}, "disabled", False),
    ("POST", "/v1/teams", {"name": "t", "models": "*"}, "models", True),
    ("PUT", "/v1/teams/t", {"name": "t", "limits": {"rpm": "5"}}, "limits", True),
    ("PATCH", "/v1/teams/t", {"plan": 5}, "plan", False),
    ("PUT", "/v1/teams/t/members/u", {"role": "owner"}, "role", False),
    ("POST", "/v1/prompts", {"name": "p", "model": "m", "messages": "hi"}, "messages", True),
    ("PUT", "/v1/prompts/p", {"model": 5, "messages": [{"role": "user", "content": "x"}]}, "model", True),
    ("POST", "/v1/prompts/p/publish", {"version": "2"}, "version", True),
    ("POST", "/v1/prompts/p/render", {"variables": ["x"]}, "variables", False),
    ("POST", "/v1/api-keys", {"name": ["k"]}, "name", True),
    ("POST", "/v1/api-keys/key_x/rotate", {"grace_period_s": "10"}, "grace_period_s", False),
    ("POST", "/v1/auth/token", {"username": 1, "password": "x"}, "username", True),
]
IDS = [f"{m} {p}" for m, p, *_ in BODY_ENDPOINTS]


def send(client: httpx.Client, method: str, path: str, content: bytes) -> httpx.Response:
    return client.request(method, path, content=content, headers={"content-type": "application/json"})


def assert_problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = resp.json()
    assert body["status"] == status
    assert body["error"]["code"] == body["code"] == resp.headers["x-error-code"]
    return body


@pytest.mark.parametrize(("method", "path", "wrong", "field", "requires"), BODY_ENDPOINTS, ids=IDS)
def test_body_errors(api: Admin, method: str, path: str, wrong: dict[str, Any], field: str, requires: bool) -> None:
    with api.admin() as client:
        for content in (b'{"name": ', b"\xff\xfe{}", b"not json"):
            assert "not valid" in assert_problem(send(client, method, path, content), 400)["detail"]
        for content in (b"[]", b"null", b'"text"', b"42"):
            assert "JSON object" in assert_problem(send(client, method, path, content), 400)["detail"]
        if path != "/v1/api-keys/key_x/rotate" and "/members/" not in path:  # their bodies are optional
            assert "empty" in assert_problem(send(client, method, path, b""), 400)["detail"]
        typed = assert_problem(client.request(method, path, json=wrong), 422)
        assert typed["errors"][0]["field"].startswith(field)
        assert typed["error"]["param"] == typed["errors"][0]["field"]
        unknown = assert_problem(client.request(method, path, json={**wrong, "surprise": True}), 422)
        assert {"field": "surprise", "message": "unknown field"} in unknown["errors"]
        if requires:
            missing = assert_problem(client.request(method, path, json={}), 422)
            assert all(e["message"] == "required field is missing" for e in missing["errors"])
        oversized = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
        assert_problem(send(client, method, path, oversized), 413)


@pytest.mark.parametrize(
    "path", ["/v1/configs", "/v1/routes", "/v1/plans", "/v1/users", "/v1/api-keys", "/v1/teams", "/v1/prompts"]
)
def test_bad_query_parameters(admin: httpx.Client, path: str) -> None:
    for params in ({"limit": "abc"}, {"limit": 0}, {"limit": 501}, {"offset": -1}, {"offset": "x"}):
        resp = admin.get(path, params=params)
        assert resp.status_code in (400, 422), (params, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"


def test_hostile_values_never_500(admin: httpx.Client) -> None:
    deep = b'{"name": "deep", "kind": "openai", "headers": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    bodies = [
        deep,
        b'{"name": "inf", "kind": "openai", "base_url": "https://api.example.com", "timeout_s": 1e400}',
        '{"name": "\u00e9\u0301\u202e", "kind": "openai"}'.encode(),
        b'{"name": "a\\u0000b", "kind": "demo"}',
        b'{"name": "bigint", "kind": "openai", "base_url": "https://api.example.com", "timeout_s": '
        + b"9" * 5000
        + b"}",
    ]
    for body in bodies:
        resp = send(admin, "POST", "/v1/configs", body)
        assert 400 <= resp.status_code < 500, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
