"""The playground's in-process chat: the signed-in viewer's key record, the call, and the streamed summary.

Decision: the playground does not store or mint a key. It builds a `KeyRecord` in memory from the
viewer's plan (`ui-pg-<user id>`), so there is no secret to leak, nothing to revoke, and the plan's
models and limits apply exactly as for the user's own keys (the limits count separately, under
that id). Usage is recorded under the same id with the user's id, so it shows in the user's usage.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from app.accounting.cost import cost_usd
from app.accounting.events import Usage
from app.api.inference.chat import parse_chat
from app.catalog.specs import Limits
from app.errors import InvalidRequestError, PermissionDeniedError
from app.gateway.call import Call, Reply
from app.gateway.snapshot import CatalogSnapshot, KeyRecord
from app.gateway.sse import SSESplitter, frame_data, make_frame
from app.gateway.tracing import trace_from_header
from app.ui_support.session import Viewer

__all__ = ["MAX_PLAYGROUND_BYTES", "build_call", "playground_key", "playground_key_id", "summarised"]

MAX_PLAYGROUND_BYTES = 256 * 1024
_ALLOWED_ROLES = {"system", "user", "assistant"}


def playground_key_id(viewer: Viewer) -> str:
    return f"ui-pg-{viewer.user_id or 'admin'}"


def playground_key(viewer: Viewer, snapshot: CatalogSnapshot) -> KeyRecord:
    """Admins without a plan are unlimited (as their own keys would be); users always need their plan."""
    plan = snapshot.plans.get(viewer.plan) if viewer.plan else None
    if plan is None and not viewer.is_admin:
        raise PermissionDeniedError("Your account is not bound to an existing plan; ask an admin to assign one")
    metadata: dict[str, object] = {"source": "ui-playground"}
    return KeyRecord(playground_key_id(viewer), "playground", "", plan, None, Limits(), None, viewer.user_id, metadata)


def _chat_body(raw: bytes) -> dict[str, Any]:
    """Only what the playground sends: model, messages, temperature, max_tokens; always streamed."""
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise InvalidRequestError("The playground sent malformed JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), str) or not isinstance(doc.get("messages"), list):
        raise InvalidRequestError("Pick a model and write a message")
    messages = [
        {"role": m["role"], "content": m["content"]}
        for m in doc["messages"]
        if isinstance(m, dict) and m.get("role") in _ALLOWED_ROLES and isinstance(m.get("content"), str)
    ]
    if not messages:
        raise InvalidRequestError("Write a message first")
    body: dict[str, Any] = {"model": doc["model"], "messages": messages, "stream": True}
    body["stream_options"] = {"include_usage": True}
    for name, kind in (("temperature", float), ("max_tokens", int)):
        value = doc.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            body[name] = kind(value)
    return body


def build_call(raw: bytes, key: KeyRecord) -> Call:
    if len(raw) > MAX_PLAYGROUND_BYTES:
        raise InvalidRequestError(
            f"The conversation is longer than {MAX_PLAYGROUND_BYTES // 1024} KiB; start a new one"
        )
    body = msgspec.json.encode(_chat_body(raw))
    request_id = "req_" + os.urandom(12).hex()
    trace = trace_from_header(None)
    return Call("chat.completions", "openai", {}, body, parse_chat, trace, request_id, time.perf_counter(), key=key)


def _usage_of(frame: bytes) -> Usage | None:
    data = frame_data(frame)
    if not data or not data.startswith(b"{") or b'"usage"' not in data:
        return None
    try:
        usage = msgspec.json.decode(data).get("usage")
    except msgspec.DecodeError:
        return None
    if not isinstance(usage, dict):
        return None
    return Usage(
        prompt_tokens=int(usage.get("prompt_tokens") or 0), completion_tokens=int(usage.get("completion_tokens") or 0)
    )


async def summarised(call: Call, reply: Reply, snapshot: CatalogSnapshot) -> AsyncIterator[bytes]:
    """The reply's SSE bytes unchanged, then one `event: polyroute` frame: who served it, attempts, cost."""
    headers = {k.decode(): v.decode() for k, v in reply.headers}
    provider = headers.get("x-polyroute-provider")
    served = headers.get("x-polyroute-model", "")
    splitter, usage = SSESplitter(), None
    first_token_ms: float | None = None
    if reply.stream is None:
        yield reply.body
    else:
        async for chunk in reply.stream:
            if first_token_ms is None:
                first_token_ms = (time.perf_counter() - call.received) * 1000
            for frame in splitter.feed(chunk):
                usage = _usage_of(frame) or usage
            yield chunk
    entry = snapshot.providers.get(provider or "")
    model = entry.model(served.partition("/")[2]) if entry else None
    summary = {
        "provider": provider,
        "model": served,
        "attempts": int(headers.get("x-polyroute-attempts") or 1),
        "request_id": call.request_id,
        "trace_id": call.trace.trace_id,
        "ttft_ms": round(first_token_ms, 1) if first_token_ms is not None else None,
        "latency_ms": round((time.perf_counter() - call.received) * 1000, 1),
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
        "cost_usd": cost_usd(model, usage) if model and usage else None,
    }
    yield make_frame(msgspec.json.encode(summary), "polyroute")
