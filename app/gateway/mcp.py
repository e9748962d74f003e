"""MCP servers behind the gateway: `/mcp/{name}` fronts an MCP server's Streamable HTTP endpoint.

One API key reaches every MCP server an operator configured (providers of kind `mcp`), with the
server's own credentials added by the gateway. A tool is `{server}/{tool}` to plans, teams and keys'
allow-lists, like a model name: `tools/list` shows a key only the tools it may call, and a `tools/call`
of any other is refused with a JSON-RPC error before it reaches the server. Each `tools/call` is a
request to the key's limits (rpm, daily cap, budgets) and a usage row (`endpoint: mcp`, `model`: the
tool), priced by the server's model entry of that name (`cost_per_request`), if any. Everything else
(initialize, notifications, resources, prompts, the GET stream, DELETE) passes through as it is.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from app.accounting.attribution import header_labels, merged_tags
from app.accounting.cost import cost_usd
from app.accounting.events import Usage, UsageEvent, event_id
from app.errors import GatewayError, InvalidRequestError, ModelNotAllowedError, NotFoundError, ProviderError
from app.gateway.call import Reply
from app.gateway.keys import authenticate
from app.gateway.resolve import model_allowed
from app.gateway.snapshot import KeyRecord, ProviderEntry
from app.gateway.sse import SSESplitter, frame_data
from app.gateway.tracing import TraceContext
from app.gateway.upstream import UpstreamFailure, UpstreamResponse
from app.gateway.vendor import open_upstream, response_headers
from app.providers.base import UpstreamRequest
from app.providers.registry import ADAPTERS

__all__ = ["McpCall", "handle_mcp", "visible_tools"]

FORWARDED = ("content-type", "accept", "mcp-session-id", "mcp-protocol-version", "last-event-id")
"""The caller's headers the server sees; credentials never."""
NOT_ALLOWED = -32003
"""The JSON-RPC error code of a refused call (in the range JSON-RPC leaves to servers)."""
_decode = msgspec.json.decode
_encode = msgspec.json.encode
Account = Callable[..., None]
"""`account(status, answer, error=None)`: writes the usage row of one `tools/call`."""


@dataclass(slots=True)
class McpCall:
    method: str
    server: str
    headers: dict[str, str]
    body: bytes
    trace: TraceContext
    request_id: str


def visible_tools(key: KeyRecord, server: str, result: Any) -> Any:
    """A `tools/list` result with only the tools the key may call."""
    if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
        return result
    kept = [t for t in result["tools"] if isinstance(t, dict) and model_allowed(key, f"{server}/{t.get('name')}")]
    return {**result, "tools": kept}


def _jsonrpc_error(message_id: Any, code: int, text: str, data: dict[str, Any]) -> bytes:
    return _encode({"jsonrpc": "2.0", "id": message_id, "error": {"code": code, "message": text, "data": data}})


def _refusal(message_id: Any, exc: GatewayError) -> Reply:
    """A refused method call, in JSON-RPC (the client's session goes on), with our usual headers."""
    data: dict[str, Any] = {"code": exc.error_code, **{k.lower(): v for k, v in exc.headers.items()}}
    body = _jsonrpc_error(message_id, NOT_ALLOWED, exc.detail, data)
    headers = [(b"content-type", b"application/json"), (b"x-error-code", exc.error_code.encode())]
    return Reply(200, headers, body)


async def handle_mcp(gateway: Any, call: McpCall) -> Reply:
    snapshot = gateway.catalog.snapshot
    key = authenticate(call.headers, snapshot)
    server = snapshot.providers.get(call.server)
    if server is None or server.kind != "mcp" or not server.enabled:
        raise NotFoundError(f"No MCP server named '{call.server}'")
    message = _message(call)
    method = message.get("method") if message is not None else None
    tool: str | None = None
    admission = None
    labels: tuple[str | None, tuple[str, ...]] = (None, ())
    if method == "tools/call":
        params = message.get("params") if message is not None else None
        tool = str(params.get("name")) if isinstance(params, dict) else ""
        message_id = message.get("id") if message is not None else None
        labels = header_labels(call.headers)  # a malformed header is refused before anything is counted
        try:
            if not model_allowed(key, f"{server.name}/{tool}"):
                raise ModelNotAllowedError(f"Tool '{server.name}/{tool}' is not allowed for this API key")
            admission = await gateway.limiter.admit(key, labels[0] if key.end_user_limits else None)
        except GatewayError as exc:
            _accountant(gateway, call, key, server, tool, None, labels, time.perf_counter())(exc.status_code, None, exc)
            return _refusal(message_id, exc)
    started = time.perf_counter()
    response = await _open(gateway, server, call)
    headers = response_headers(response)
    content_type = response.headers.get("content-type", "")
    account = _accountant(gateway, call, key, server, tool, admission, labels, started) if tool is not None else None
    if "event-stream" in content_type:
        filtering = key if method == "tools/list" else None
        stream = _relay(response, server, filtering, account, stall=None if call.method == "GET" else server.timeout_s)
        return Reply(response.status, headers, stream=stream)
    try:
        body = await response.read(server.timeout_s)
    except UpstreamFailure as exc:
        if account is not None:
            account(502, None)
        raise ProviderError(f"{server.name}: {exc}") from None
    finally:
        response.close()
    if method == "tools/list" and response.status == 200:
        body = _filtered(body, key, server.name)
    if account is not None:
        account(response.status, body)
    return Reply(response.status, headers, body)


def _message(call: McpCall) -> dict[str, Any] | None:
    """The JSON-RPC message a POST carries. What we cannot read is not forwarded: a server with a laxer
    parser (NaN, say) could find a tools/call in it that the plan never saw. A batch is refused too (MCP
    has not had them since 2025-06-18)."""
    if call.method != "POST":
        return None
    try:
        doc = _decode(call.body)
    except msgspec.DecodeError as exc:
        raise InvalidRequestError(f"The body is not a JSON-RPC message: {exc}") from None
    if isinstance(doc, list):
        raise InvalidRequestError("JSON-RPC batches are not supported (MCP removed them); send one message per request")
    if not isinstance(doc, dict):
        raise InvalidRequestError("A JSON-RPC message is a JSON object")
    return doc


async def _open(gateway: Any, server: ProviderEntry, call: McpCall) -> UpstreamResponse:
    headers = {k: v for k, v in call.headers.items() if k in FORWARDED}
    headers.update(server.headers)
    headers.update(ADAPTERS[server.kind].auth_headers(server))
    headers["traceparent"] = call.trace.child().traceparent
    return await open_upstream(
        gateway.pool, server, UpstreamRequest(call.method, server.base_url, headers, call.body or None)
    )


def _filtered(body: bytes, key: KeyRecord, server: str) -> bytes:
    try:
        doc = _decode(body)
    except msgspec.DecodeError:
        return body
    if not isinstance(doc, dict) or "result" not in doc:
        return body
    return _encode({**doc, "result": visible_tools(key, server, doc["result"])})


async def _relay(
    response: UpstreamResponse,
    server: ProviderEntry,
    key: KeyRecord | None,
    account: Account | None,
    stall: float | None,
) -> AsyncIterator[bytes]:
    """The server's SSE stream; for `tools/list` (`key` given) each message frame is filtered whole."""
    splitter = SSESplitter() if key is not None else None
    last: bytes | None = None
    status = 499
    try:
        while chunk := await response.next_chunk(stall):
            if splitter is None or key is None:
                last = chunk
                yield chunk
                continue
            for frame in splitter.feed(chunk):
                data = frame_data(frame)
                yield b"data: " + _filtered(data, key, server.name) + b"\n\n" if data is not None else frame
        status = response.status
    except UpstreamFailure:
        status = 502
    finally:
        response.close()
        if account is not None:
            account(status, last)


def _accountant(
    gateway: Any,
    call: McpCall,
    key: KeyRecord,
    server: ProviderEntry,
    tool: str,
    admission: Any,
    labels: tuple[str | None, tuple[str, ...]],
    started: float,
) -> Account:
    """The usage row of one `tools/call`, once its answer is in (or the caller left, or it was refused)."""
    end_user, tags = labels

    def account(status: int, answer: bytes | None, error: GatewayError | None = None) -> None:
        usage = Usage()
        cost = cost_usd(server.model(tool), usage) if status < 400 else 0.0  # its cost_per_request, if priced
        tool_error = answer is not None and b'"isError":true' in answer.replace(b" ", b"")
        if admission is not None and cost:
            gateway.limiter.settle_soon(key, admission.limits, 0, cost, admission.end_user)
        if cost and gateway.provider_spend is not None:
            gateway.provider_spend.add_soon(server, cost)
        gateway.usage.put(
            UsageEvent(
                id=event_id(call.request_id)[0],
                ts=time.time(),
                endpoint="mcp",
                status=status,
                key_id=key.id,
                user_id=key.user_id,
                plan=key.plan.name if key.plan else None,
                requested_model=f"{server.name}/{tool}",
                provider=server.name,
                model=tool,
                error_code=error.error_code if error else "TOOL_ERROR" if tool_error else None,
                usage=usage,
                cost_usd=cost,
                latency_ms=(time.perf_counter() - started) * 1000,
                attempts=1,
                detail={
                    "mcp": {"method": "tools/call", "tool": tool, "is_error": tool_error},
                    **({"error": error.detail} if error else {}),
                },
                trace_id=call.trace.trace_id,
                end_user=end_user,
                tags=merged_tags(key.tags, tags),
            )
        )

    return account
