"""GET /v1/realtime (WebSocket): OpenAI's Realtime API through our key, plan, routing and accounting.

The key comes as for any call (`Authorization`, `api-key`...) or, from a browser, which cannot set
headers on a WebSocket, as the `openai-insecure-api-key.<key>` subprotocol OpenAI accepts. A refusal
before the session starts is an HTTP answer to the upgrade (problem+json, as on every endpoint) where
the server can send one, else an `error` event and a close.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from app.api.asgi_io import header_dict, internal_error, new_request_id, send_problem
from app.api.problem import problem_body, problem_headers
from app.errors import GatewayError, InvalidRequestError, UpgradeRequiredError
from app.gateway.keys import presented_key
from app.gateway.realtime import RealtimeAsk, open_session
from app.gateway.realtime_frames import error_event
from app.gateway.tracing import TraceContext, trace_from_header

__all__ = ["realtime_app"]

KEY_PROTOCOL = "openai-insecure-api-key."
_OURS = frozenset({"model", "deployment", "api-version", "key"})
"""Query parameters the gateway reads or drops; the rest go on to the upstream."""

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def realtime_app(gateway: Any, tracker: Any = None) -> ASGIApp:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = header_dict(scope)
        trace = trace_from_header(headers.get("traceparent"))
        request_id = new_request_id(headers)
        if scope["type"] != "websocket":
            refusal = UpgradeRequiredError(
                "The Realtime API is a WebSocket: connect with ws:// or wss:// (client.realtime.connect)",
                headers={"Upgrade": "websocket", "Connection": "Upgrade"},
            )
            await send_problem(send, refusal, "openai", trace, request_id)
            return
        if (await receive())["type"] != "websocket.connect":
            return
        offered = list(scope.get("subprotocols") or ())
        secret = next((p.removeprefix(KEY_PROTOCOL) for p in offered if p.startswith(KEY_PROTOCOL)), None)
        if secret and presented_key(headers) is None:
            headers["authorization"] = f"Bearer {secret}"
        subprotocol = "realtime" if "realtime" in offered else None
        if tracker is not None:
            tracker.enter()
        try:
            try:
                session = await open_session(gateway, _ask(scope, headers, trace, request_id))
            except GatewayError as exc:
                await _refuse(scope, send, exc, trace, request_id, subprotocol)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never a bare 500: a problem like everywhere else
                await _refuse(scope, send, internal_error(exc), trace, request_id, subprotocol)
                return
            accept_headers = [(b"x-request-id", request_id.encode()), *session.headers]
            await send({"type": "websocket.accept", "subprotocol": subprotocol, "headers": accept_headers})
            await session.relay(receive, send)
        finally:
            if tracker is not None:
                tracker.leave()

    return app


def _ask(scope: dict[str, Any], headers: dict[str, str], trace: TraceContext, request_id: str) -> RealtimeAsk:
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    given = dict(query)
    model = given.get("model") or given.get("deployment")  # `deployment`: Azure's client on its deployment API
    if not model:
        raise InvalidRequestError("Name the model: /v1/realtime?model=<model>", param="model")
    rest = [(k, v) for k, v in query if k not in _OURS]
    return RealtimeAsk(model, headers, rest, trace, request_id)


async def _refuse(
    scope: dict[str, Any],
    send: Any,
    exc: GatewayError,
    trace: TraceContext,
    request_id: str,
    subprotocol: str | None,
) -> None:
    if "websocket.http.response" in scope.get("extensions", {}):
        body = problem_body(exc, "openai", trace.trace_id)
        headers = [
            *problem_headers(exc),
            (b"x-request-id", request_id.encode()),
            (b"traceparent", trace.traceparent.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "websocket.http.response.start", "status": exc.status_code, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
        return
    # A server without the denial extension: the Realtime API's own way to say it, then a policy close.
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    await send({"type": "websocket.send", "text": error_event(exc)})
    await send({"type": "websocket.close", "code": 1008 if exc.status_code < 500 else 1011, "reason": exc.error_code})
