"""MCP servers behind the gateway, driven by the official `mcp` client SDK over Streamable HTTP: the
server's credentials instead of the caller's key, tools filtered and refused by the key's plan, each
tool call a usage row counted against the key's limits and priced, JSON and SSE answers alike."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import openai
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.db_backends import gateway_on
from tests.fakes.mcp import FakeMcp
from tests.gateway_process import API_KEY, GatewayProcess
from tests.integration.usage.harness import wait_until

SEARCH_ONLY = "sk-poly-mcp-search-only-0123456789ab"
TWO_A_DAY = "sk-poly-mcp-two-a-day-0123456789abcd"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMcp]:
    with FakeMcp() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(fake: FakeMcp) -> None:
    fake.reset()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, fake: FakeMcp) -> Iterator[GatewayProcess]:
    config = {
        "providers": [
            {
                "name": "docs",
                "kind": "mcp",
                "base_url": fake.base_url + "/mcp",
                "api_key": fake.api_key,
                "timeout_s": 5,
                "models": [{"id": "search", "cost_per_request": 0.01}],
            },
            {"name": "demo", "kind": "demo", "models": [{"id": "echo"}]},
        ],
        "plans": [
            {"name": "search-only", "models": ["docs/search", "demo/*"]},
            {"name": "two-a-day", "models": ["*"], "daily_requests": 2},
        ],
        "api_keys": [
            {"name": "test", "key": API_KEY},
            {"name": "search-only", "key": SEARCH_ONLY, "plan": "search-only"},
            {"name": "two-a-day", "key": TWO_A_DAY, "plan": "two-a-day"},
        ],
    }
    with gateway_on("sqlite", tmp_path_factory.mktemp("mcp"), config) as gateway:
        yield gateway


async def _session(gw: GatewayProcess, key: str, work: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}", "x-request-id": "mcp-test"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=10) as http,
        streamable_http_client(f"{gw.base_url}/mcp/docs", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return await work(session)


def _run(gw: GatewayProcess, key: str, work: Any) -> Any:
    return asyncio.run(_session(gw, key, work))


def _rows(gw: GatewayProcess, key_name: str, count: int) -> list[dict[str, Any]]:
    """The key's `mcp` rows in the request log, once `count` of them are written."""
    with gw.admin() as admin:
        key_id = next(k["id"] for k in admin.get("/v1/api-keys").json()["data"] if k["name"] == key_name)
        rows: list[dict[str, Any]] = []

        def arrived() -> bool:
            nonlocal rows
            listed = admin.get("/v1/requests", params={"key_id": key_id, "limit": 50}).json()["data"]
            rows = [r for r in listed if r["endpoint"] == "mcp"]
            return len(rows) >= count

        wait_until(arrived, timeout=10)
    return rows


@pytest.mark.parametrize("sse", [False, True], ids=["json", "sse"])
def test_tools_through_the_gateway_with_the_servers_credentials(gw: GatewayProcess, fake: FakeMcp, sse: bool) -> None:
    fake.sse = sse

    async def work(session: ClientSession) -> Any:
        tools = await session.list_tools()
        called = await session.call_tool("search", {"q": "routing"})
        return [t.name for t in tools.tools], called

    names, called = _run(gw, API_KEY, work)
    assert names == ["search", "echo", "delete_repo"]
    assert called.content[0].text == 'search: {"q": "routing"}'
    assert called.is_error is False
    methods = [c["method"] for c in fake.calls]
    assert "initialize" in methods and "tools/call" in methods
    for seen in fake.received:
        assert seen.headers["Authorization"] == f"Bearer {fake.api_key}"
        assert API_KEY not in json.dumps(seen.headers)


@pytest.mark.parametrize("sse", [False, True], ids=["json", "sse"])
def test_a_plan_sees_and_calls_only_its_tools(gw: GatewayProcess, fake: FakeMcp, sse: bool) -> None:
    fake.sse = sse
    before = len(_rows(gw, "search-only", 0))

    async def work(session: ClientSession) -> Any:
        tools = await session.list_tools()
        allowed = await session.call_tool("search", {"q": "x"})
        with pytest.raises(MCPError) as refused:
            await session.call_tool("delete_repo", {"name": "prod"})
        return [t.name for t in tools.tools], allowed, refused.value

    names, allowed, refused = _run(gw, SEARCH_ONLY, work)
    assert names == ["search"]
    assert allowed.content[0].text == 'search: {"q": "x"}'
    assert refused.code == -32003 and "docs/delete_repo" in refused.message
    assert refused.data["code"] == "MODEL_NOT_ALLOWED"
    assert not [c for c in fake.calls if c.get("params", {}).get("name") == "delete_repo"]
    rows = _rows(gw, "search-only", before + 2)[:2]  # newest first: this run's two
    by_tool = {r["model"]: r for r in rows}
    assert by_tool["search"]["status"] == 200 and by_tool["search"]["cost_usd"] == pytest.approx(0.01)
    assert (by_tool["delete_repo"]["status"], by_tool["delete_repo"]["error_code"]) == (403, "MODEL_NOT_ALLOWED")


def test_tool_calls_count_against_the_keys_limits(gw: GatewayProcess) -> None:
    async def work(session: ClientSession) -> Any:
        await session.list_tools()  # not a request to the limits: only tool calls are
        first = await session.call_tool("echo", {"n": 1})
        second = await session.call_tool("echo", {"n": 2, "fail": True})
        with pytest.raises(MCPError) as refused:
            await session.call_tool("echo", {"n": 3})
        return first, second, refused.value

    first, second, refused = _run(gw, TWO_A_DAY, work)
    assert first.is_error is False and second.is_error is True  # a tool's own error is its answer
    assert refused.data["code"] == "DAILY_REQUEST_LIMIT_EXCEEDED" and "retry-after" in refused.data
    rows = _rows(gw, "two-a-day", 3)
    assert sorted((r["status"], r["error_code"] or "") for r in rows) == [
        (200, ""),
        (200, "TOOL_ERROR"),
        (429, "DAILY_REQUEST_LIMIT_EXCEEDED"),
    ]


def test_refusals_outside_a_session(gw: GatewayProcess, fake: FakeMcp) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    with httpx.Client(base_url=gw.base_url, timeout=10) as http:
        anonymous = http.post("/mcp/docs", json=ping)
        assert (anonymous.status_code, anonymous.headers["x-error-code"]) == (401, "AUTHENTICATION_ERROR")
        auth = {"Authorization": f"Bearer {API_KEY}"}
        for path in ("/mcp/nope", "/mcp/demo", "/mcp/"):
            missing = http.post(path, json=ping, headers=auth)
            assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NOT_FOUND"), path
        batch = http.post("/mcp/docs", json=[ping, ping], headers=auth)
        assert (batch.status_code, batch.json()["error"]["code"]) == (400, "INVALID_REQUEST")
        big = http.post("/mcp/docs", content=b"{" + b" " * (40 * 1024 * 1024) + b"}", headers=auth)
        assert big.status_code == 413
        # What the gateway cannot read is not forwarded: a laxer parser could find a tools/call in it.
        sneaky = b'{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "x": NaN}}'
        for body in (b"{not json", sneaky, b'"ping"', b""):
            refused = http.post("/mcp/docs", content=body, headers={**auth, "content-type": "application/json"})
            assert (refused.status_code, refused.json()["error"]["code"]) == (400, "INVALID_REQUEST"), body
    assert not fake.calls


def test_an_mcp_server_is_no_model_and_no_route_target(gw: GatewayProcess, fake: FakeMcp) -> None:
    listed = [m.id for m in gw.openai().models.list().data]
    assert "demo/echo" in listed and not [m for m in listed if m.startswith("docs/")]
    with pytest.raises(openai.BadRequestError) as refused:
        gw.openai().chat.completions.create(model="docs/search", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.body["code"] == "INVALID_MODEL"  # type: ignore[index]
    route = {"name": "route/tools", "targets": [{"provider": "docs", "model": "search"}]}
    with gw.admin() as admin:
        saved = admin.post("/v1/routes", json=route)
    assert saved.status_code == 422 and "is an MCP server, not a model" in saved.text
    assert not fake.calls
