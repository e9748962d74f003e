"""The generated OpenAPI document describes every management endpoint, its bodies and its errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway_process import GatewayProcess
from tests.integration.admin.conftest import unique

EXPECTED: dict[str, dict[str, tuple[str | None, str | None]]] = {
    # path -> method -> (request body schema, success response schema)
    "/v1/configs": {"get": (None, "ProviderPage"), "post": ("ProviderCreate", "Provider")},
    "/v1/configs/{ref}": {
        "get": (None, "Provider"),
        "put": ("ProviderCreate", "Provider"),
        "patch": ("ProviderUpdate", "Provider"),
        "delete": (None, None),
    },
    "/v1/routes": {"get": (None, "RoutePage"), "post": ("RouteCreate", "Route")},
    "/v1/routes/{ref}": {
        "get": (None, "Route"),
        "put": ("RouteCreate", "Route"),
        "patch": ("RouteUpdate", "Route"),
        "delete": (None, None),
    },
    "/v1/plans": {"get": (None, "PlanPage"), "post": ("PlanCreate", "Plan")},
    "/v1/plans/{ref}": {
        "get": (None, "Plan"),
        "put": ("PlanCreate", "Plan"),
        "patch": ("PlanUpdate", "Plan"),
        "delete": (None, None),
    },
    "/v1/api-keys": {"get": (None, "ApiKeyPage"), "post": ("ApiKeyCreate", "ApiKeyCreated")},
    "/v1/api-keys/{key_id}": {
        "get": (None, "ApiKey"),
        "patch": ("ApiKeyUpdate", "ApiKey"),
        "delete": (None, "ApiKey"),
    },
    "/v1/api-keys/{key_id}/rotate": {"post": ("RotateRequest", "ApiKeyCreated")},
    "/v1/users": {"get": (None, "UserPage"), "post": ("UserCreate", "User")},
    "/v1/users/{ref}": {"get": (None, "User"), "patch": ("UserUpdate", "User"), "delete": (None, None)},
    "/v1/auth/token": {"post": ("TokenRequest", "TokenResponse")},
    "/v1/auth/me": {"get": (None, "Me")},
}


@pytest.fixture
def openapi(admin: httpx.Client) -> dict[str, Any]:
    resp = admin.get("/schema/openapi.json")
    assert resp.status_code == 200
    doc: dict[str, Any] = resp.json()
    return doc


def ref_name(media: dict[str, Any]) -> str:
    schema = media["schema"]
    ref = schema.get("$ref") or next(s["$ref"] for s in schema.get("oneOf", []) if "$ref" in s)
    return str(ref.rsplit("/", 1)[-1])


def test_every_management_operation_is_described(openapi: dict[str, Any]) -> None:
    paths = openapi["paths"]
    for path, methods in EXPECTED.items():
        assert path in paths, path
        for method, (request, response) in methods.items():
            op = paths[path][method]
            if request is not None:
                assert ref_name(op["requestBody"]["content"]["application/json"]) == request, (path, method)
            success = next(code for code in op["responses"] if code.startswith("2"))
            if response is not None:
                assert ref_name(op["responses"][success]["content"]["application/json"]) == response
            errors = {int(code) for code in op["responses"] if not code.startswith("2")}
            expected = {401} if path == "/v1/auth/token" else {401, 403}
            if request is not None:
                expected |= {400, 413, 422}
            if "{" in path:
                expected |= {404}
            assert expected <= errors, (path, method, errors)
            for code in errors:
                problem = op["responses"][str(code)]["content"]["application/problem+json"]
                assert ref_name(problem) == "Problem"


def test_conflicts_and_schemas_are_documented(openapi: dict[str, Any]) -> None:
    paths, schemas = openapi["paths"], openapi["components"]["schemas"]
    for path, method in [
        ("/v1/configs", "post"),
        ("/v1/configs/{ref}", "delete"),
        ("/v1/plans/{ref}", "delete"),
        ("/v1/routes/{ref}", "put"),
        ("/v1/users", "post"),
        ("/v1/api-keys/{key_id}", "delete"),
    ]:
        assert "409" in paths[path][method]["responses"], (path, method)
    assert {"errors", "error", "code", "status", "detail", "title", "type"} <= set(schemas["Problem"]["properties"])
    provider = schemas["Provider"]["properties"]
    assert "api_key_hint" in provider
    assert "api_key" not in provider
    assert "key" in schemas["ApiKeyCreated"]["properties"]
    assert "key" not in schemas["ApiKey"]["properties"]
    assert "password" not in schemas["User"]["properties"]
    assert "password" in schemas["UserCreate"]["properties"]
    # Bodies refuse unknown fields (422), and the document says so.
    for body in ("ProviderCreate", "ProviderUpdate", "RouteCreate", "PlanUpdate", "ApiKeyCreate", "ApiKeyUpdate"):
        assert schemas[body]["additionalProperties"] is False, body
    list_params = {p["name"] for p in paths["/v1/configs"]["get"]["parameters"]}
    assert {"limit", "offset", "kind", "enabled"} <= list_params


def test_the_document_and_the_api_need_no_pydantic_in_the_worker(
    gw: GatewayProcess, admin: httpx.Client, openapi: dict[str, Any]
) -> None:
    """Litestar loads pydantic's plugins whenever pydantic is installed (piccolo brings it), 8 MB per
    worker; ours are msgspec schemas, so the app leaves them out and the document above is whole without."""
    assert admin.get("/v1/configs").status_code == 200
    assert admin.post("/v1/plans", json={"name": unique("nopyd"), "rpm": 5}).status_code == 201
    for pid in gw.worker_pids():
        assert "pydantic_core" not in Path(f"/proc/{pid}/maps").read_text()
