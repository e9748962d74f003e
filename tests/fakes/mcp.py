"""A fake MCP server on the Streamable HTTP transport (JSON-RPC 2.0 over POST; JSON or SSE answers).

`initialize` opens a session (`Mcp-Session-Id`), `notifications/*` get 202, `tools/list` lists three
tools (`search`, `echo`, `delete_repo`), `tools/call` answers `<tool>: <arguments as JSON>` as text
(`fail` in the arguments makes it a tool error: `isError: true`), `ping` an empty result. `sse=True`
answers every request as an SSE stream of one `message` event instead of a JSON body. GET (the
server's own stream) is 405, as the transport allows; DELETE ends the session. Requests without
`Authorization: Bearer <api_key>` get 401.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer

__all__ = ["TOOLS", "FakeMcp"]

TOOLS = [
    {"name": "search", "description": "Search the docs", "inputSchema": {"type": "object"}},
    {"name": "echo", "description": "Say it back", "inputSchema": {"type": "object"}},
    {"name": "delete_repo", "description": "Delete a repository", "inputSchema": {"type": "object"}},
]


@dataclass
class FakeMcp(FakeServer):
    api_key: str = "mcp-upstream-secret"
    sse: bool = False
    sessions: set[str] = field(default_factory=set)
    calls: list[dict[str, Any]] = field(default_factory=list)
    """Every JSON-RPC message received, in order."""

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/mcp", self.endpoint)

    def reset(self) -> None:
        super().reset()
        self.calls.clear()
        self.sse = False

    async def endpoint(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": "unauthorized"}, status=401)
        if request.method == "GET":
            return web.Response(status=405)
        if request.method == "DELETE":
            self.sessions.discard(request.headers.get("mcp-session-id", ""))
            return web.Response(status=200)
        try:
            message = json.loads(await request.read())
        except ValueError:
            return web.json_response(_error(None, -32700, "Parse error"), status=400)
        self.calls.append(message)
        method = message.get("method", "")
        if method.startswith("notifications/"):
            return web.Response(status=202)
        headers: dict[str, str] = {}
        if method == "initialize":
            session = f"sess-{len(self.sessions) + 1}"
            self.sessions.add(session)
            headers["Mcp-Session-Id"] = session
        elif request.headers.get("mcp-session-id") not in self.sessions:
            return web.json_response(_error(message.get("id"), -32600, "No such session"), status=404)
        answer = {"jsonrpc": "2.0", "id": message.get("id"), "result": _result(method, message.get("params") or {})}
        if not self.sse:
            return web.json_response(answer, headers=headers)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **headers})
        await response.prepare(request)
        await response.write(f"event: message\ndata: {json.dumps(answer)}\n\n".encode())
        await response.write_eof()
        return response


def _result(method: str, params: dict[str, Any]) -> dict[str, Any]:
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "fake-mcp", "version": "1.0.0"},
        }
    if method == "tools/list":
        return {"tools": TOOLS}
    if method == "tools/call":
        arguments = params.get("arguments") or {}
        text = f"{params.get('name')}: {json.dumps(arguments, sort_keys=True)}"
        return {"content": [{"type": "text", "text": text}], "isError": "fail" in arguments}
    return {}


def _error(message_id: Any, code: int, text: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": message_id, "error": {"code": code, "message": text}}
