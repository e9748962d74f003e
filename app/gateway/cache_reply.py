"""A response-cache hit as a reply (whole or replayed stream), and what the request log keeps about cache and hooks."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from app.cache.entry import CachedAnswer, replay_pieces
from app.cache.response_cache import CacheTicket
from app.gateway.call import Call, Reply
from app.gateway.hooks_runner import HookRun

__all__ = ["cache_detail", "hit_reply"]


async def _replay(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def hit_reply(call: Call, ticket: CacheTicket, hit: CachedAnswer, headers: dict[str, str]) -> Reply:
    """The stored answer with the usual headers; `age` says how old it is, `x-polyroute-attempts` is 0."""
    gateway_ms = (time.perf_counter() - call.received) * 1000
    named = {
        **headers,
        "x-polyroute-provider": hit.provider,
        "x-polyroute-model": f"{hit.provider}/{hit.model}",
        "x-polyroute-attempts": "0",
        "age": str(int(max(0.0, time.time() - hit.created))),
        "server-timing": f"gateway;dur={gateway_ms:.2f}, upstream;dur=0.00",
    }
    encoded = [(k.encode(), v.encode()) for k, v in named.items()]
    if not hit.stream:
        return Reply(200, [(b"content-type", b"application/json"), *encoded], hit.body)
    pieces = replay_pieces(hit, chat_usage=ticket.chat_usage)
    stream_headers = [(b"content-type", b"text/event-stream"), *encoded, (b"cache-control", b"no-cache")]
    return Reply(200, stream_headers, stream=_replay(pieces))


def cache_detail(
    detail: dict[str, Any] | None, ticket: CacheTicket | None, hit: CachedAnswer | None, run: HookRun | None
) -> dict[str, Any] | None:
    """`cache`: hit, miss or refresh; on a hit `saved`: the tokens and cost of the call it replays; `hooks`."""
    out = dict(detail or {})
    if ticket is not None:
        out["cache"] = ticket.state
        if hit is not None:
            out["saved"] = {
                "prompt_tokens": hit.usage.prompt_tokens,
                "completion_tokens": hit.usage.completion_tokens,
                "cost_usd": round(hit.cost_usd, 10),
                "served_by": f"{hit.provider}/{hit.model}",
            }
    if run is not None and (acted := run.detail()):
        out["hooks"] = acted
    return out or None
