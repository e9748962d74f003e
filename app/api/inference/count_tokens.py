"""POST /v1/messages/count_tokens: Anthropic's token counting, for any model the key may use.

Claude Code and the Anthropic SDK ask it before sending a long context. The first Anthropic target
of the model (in the order its route lists them; Claude on Vertex AI too) counts with its own free endpoint; a model
with no Anthropic target, or an Anthropic upstream that cannot answer, gets an estimate from the
request's text (o200k tokens, like every usage estimate here), flagged `x-polyroute-estimated: true`.
Not an inference: no usage row, no rate-limit count; the key and its plan are checked as for one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from litestar import Request, Response, post

from app.accounting.tokens import PER_MESSAGE_TOKENS, count_tokens
from app.api.decode import decode_json_object, validate_envelope
from app.api.inference.aliases import PREFIXES
from app.errors import UpstreamStatusError
from app.gateway.keys import authenticate
from app.gateway.resolve import resolve
from app.gateway.snapshot import ProviderEntry
from app.gateway.upstream import UpstreamFailure, UpstreamPool
from app.providers.anthropic import AnthropicAdapter
from app.providers.registry import ADAPTERS
from app.wire.anthropic_messages import CountTokensEnvelope

__all__ = ["count_tokens_handler", "estimate_input_tokens"]

log = logging.getLogger("polyroute.count_tokens")

Json = dict[str, Any]


_NOT_TEXT = frozenset({"type", "id", "tool_use_id", "media_type", "source", "signature", "cache_control"})
"""Members whose strings the model does not read as text (ids, base64 sources, signatures)."""
_IMAGE_TOKENS = 1600
"""Anthropic's upper figure for one image (about 1.15 megapixels); the estimate does not read its size."""


def _strings(value: Any, out: list[str]) -> int:
    """Collect every string the model reads in `value`; returns the number of image blocks seen."""
    if isinstance(value, str):
        out.append(value)
        return 0
    images = 0
    if isinstance(value, list):
        for item in value:
            images += _strings(item, out)
    elif isinstance(value, dict):
        images += value.get("type") == "image"
        for name, item in value.items():
            if name not in _NOT_TEXT:
                images += _strings(item, out)
    return images


def estimate_input_tokens(body: Json) -> int:
    """Every text the request carries (system, messages with their tool calls and results, tool
    definitions) in o200k tokens, a fixed figure per image, and the chat format's per-message overhead."""
    texts: list[str] = []
    images = sum(_strings(body.get(name), texts) for name in ("system", "messages", "tools"))
    messages = body.get("messages")
    overhead = PER_MESSAGE_TOKENS * len(messages) if isinstance(messages, list) else 0
    return count_tokens("\n".join(texts)) + _IMAGE_TOKENS * images + overhead


async def _anthropic_count(
    pool: UpstreamPool, adapter: AnthropicAdapter, provider: ProviderEntry, model: str, body: Json, betas: str | None
) -> int | None:
    """Anthropic's own count; None when it could not answer (then the caller gets an estimate)."""
    req = adapter.count_request(provider, model, msgspec.json.encode({**body, "model": model}), betas)
    try:
        resp = await pool.open(provider.name, req, first_byte_timeout=provider.timeout_s)
        try:
            answer = await resp.read(provider.timeout_s)
        finally:
            resp.close()
    except UpstreamFailure as exc:
        log.warning("count_tokens on %s failed (%s); answering with an estimate", provider.name, exc)
        return None
    if resp.status == 200:
        try:
            count = msgspec.json.decode(answer).get("input_tokens")
        except (msgspec.DecodeError, AttributeError):
            count = None
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            return count
    elif 400 <= resp.status < 500 and resp.status not in (401, 403, 404, 429):
        # The request itself is wrong (Anthropic says why): the caller's to fix, as with /v1/messages.
        error = adapter.parse_error(resp.status, answer)
        raise UpstreamStatusError(error.message, upstream_status=resp.status, upstream_code=error.code)
    log.warning("count_tokens on %s answered HTTP %s; answering with an estimate", provider.name, resp.status)
    return None


@post([p + "/messages/count_tokens" for p in PREFIXES], include_in_schema=False, status_code=200)
async def count_tokens_handler(request: Request[Any, Any, Any]) -> Response[bytes]:
    rt = request.app.state.runtime
    snapshot = rt.catalog.snapshot
    key = authenticate(dict(request.headers), snapshot)
    body = decode_json_object(await request.body())
    envelope = validate_envelope(body, CountTokensEnvelope)
    resolved = resolve(envelope.model, snapshot, key)
    count: int | None = None
    answered_by = None
    for target in resolved.targets:
        provider = snapshot.providers.get(target.provider)
        adapter = ADAPTERS.get(provider.kind) if provider is not None and provider.enabled else None
        if provider is not None and isinstance(adapter, AnthropicAdapter):  # Anthropic's, or Claude on Vertex
            betas = request.headers.get("anthropic-beta")
            count = await _anthropic_count(rt.gateway.pool, adapter, provider, target.model, body, betas)
            answered_by = f"{provider.name}/{target.model}"
            break
    headers = {"x-polyroute-estimated": "false" if count is not None else "true"}
    if count is not None and answered_by is not None:
        headers["x-polyroute-model"] = answered_by
    else:  # a long context is tens of milliseconds of tokenizing (and the first call loads it): not on the loop
        count = await asyncio.to_thread(estimate_input_tokens, body)
    return Response(msgspec.json.encode({"input_tokens": count}), media_type="application/json", headers=headers)
