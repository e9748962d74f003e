"""The cache as the pipeline uses it: a ticket per cacheable request, lookups, stores off the path."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from app.cache.base import CacheBackend
from app.cache.entry import CachedAnswer, decode_entry, encode_entry, split_usage
from app.cache.key import cache_key, normalise
from app.cache.memory import MemoryCache
from app.cache.policy import CACHEABLE_ENDPOINTS, Mode, cache_mode, cache_scope, nondeterministic
from app.gateway.call import Call, Parsed
from app.gateway.snapshot import KeyRecord, ResolvedModel
from app.settings import Settings

__all__ = ["CacheTicket", "ResponseCache", "build_response_cache"]

log = logging.getLogger("polyroute.cache")

_USAGE_CHUNK_ENDPOINTS = ("chat.completions", "completions")
"""Streams whose usage comes as a last chunk of its own, sent only when the caller asked for it."""


@dataclass(slots=True)
class CacheTicket:
    """One request's dealings with the cache."""

    mode: Mode
    """use (look up, store on a miss) or refresh (store only)."""
    key: str
    ttl_s: float
    stream: bool
    endpoint: str
    chat_usage: bool
    """A chat stream whose caller asked for the usage chunk."""
    state: str = "miss"
    """What `x-polyroute-cache` says: hit, miss or refresh."""


class ResponseCache:
    """Front of a backend; every failure is logged and treated as a miss."""

    def __init__(self, backend: CacheBackend) -> None:
        self.backend = backend
        self._pending: set[asyncio.Task[None]] = set()

    @classmethod
    def in_memory(cls, max_bytes: int = 64 * 1024 * 1024) -> ResponseCache:
        return cls(MemoryCache(max_bytes))

    def ticket(
        self, call: Call, parsed: Parsed, key: KeyRecord, resolved: ResolvedModel, *, rewritten: Any = None
    ) -> CacheTicket | None:
        """None when this request does not use the cache (the caller then sees `off`)."""
        params = resolved.params
        mode = cache_mode(params, key, call.headers)
        if mode == "off" or (not params.cache_nondeterministic and nondeterministic(parsed.body)):
            return None
        digest = cache_key(
            endpoint=call.endpoint,
            model=resolved.name,
            stream=parsed.stream,
            scope=cache_scope(params, key),
            body=parsed.body,
            extra=normalise(rewritten) if isinstance(rewritten, dict) else rewritten,
        )
        options = parsed.body.get("stream_options")
        chat_usage = (
            call.endpoint in _USAGE_CHUNK_ENDPOINTS and isinstance(options, dict) and bool(options.get("include_usage"))
        )
        state = "refresh" if mode == "refresh" else "miss"
        return CacheTicket(mode, digest, params.cache_ttl_s, parsed.stream, call.endpoint, chat_usage, state)

    async def begin(
        self, call: Call, parsed: Parsed, key: KeyRecord, resolved: ResolvedModel, *, rewritten: Any = None
    ) -> tuple[CacheTicket | None, CachedAnswer | None]:
        """The request's ticket (None: the cache is off for it) and, for `use`, what the cache holds."""
        if call.endpoint not in CACHEABLE_ENDPOINTS:
            return None, None
        ticket = self.ticket(call, parsed, key, resolved, rewritten=rewritten)
        if ticket is None:
            return None, None
        return ticket, await self.lookup(ticket)

    async def lookup(self, ticket: CacheTicket) -> CachedAnswer | None:
        if ticket.mode != "use":
            return None
        try:
            raw = await self.backend.get(ticket.key)
        except Exception:  # a cache must never fail a request
            log.exception("response cache lookup failed")
            return None
        entry = decode_entry(raw) if raw is not None else None
        if entry is None or entry.stream != ticket.stream:
            return None
        ticket.state = "hit"
        return entry

    def store(self, ticket: CacheTicket, entry: CachedAnswer) -> None:
        """Write in the background: the caller's answer has gone (or goes) out without waiting."""
        if ticket.endpoint in _USAGE_CHUNK_ENDPOINTS and entry.pieces:
            entry.pieces, entry.usage_frame = split_usage(entry.pieces)
        if ticket.endpoint == "responses" and not _completed_response(entry):
            return  # incomplete or failed: not an answer to replay
        if not entry.body and not entry.pieces:
            return
        task = asyncio.get_running_loop().create_task(self._write(ticket.key, encode_entry(entry), ticket.ttl_s))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, key: str, raw: bytes, ttl_s: float) -> None:
        try:
            await self.backend.set(key, raw, ttl_s)
        except Exception:
            log.exception("response cache store failed")

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self.backend.close()


def _completed_response(entry: CachedAnswer) -> bool:
    if entry.pieces:
        return any(b"event: response.completed" in piece for piece in entry.pieces[-3:])
    return b'"status":"completed"' in entry.body


def build_response_cache(settings: Settings) -> ResponseCache:
    """Redis when configured (shared by replicas), else in process with an LRU bound in bytes."""
    choice = settings.cache_backend
    if choice == "redis" or (choice == "auto" and settings.redis_url):
        from app.cache.redis import RedisCache

        assert settings.redis_url is not None
        return ResponseCache(RedisCache(settings.redis_url, timeout_s=min(settings.limits_timeout_s, 0.5)))
    return ResponseCache.in_memory(settings.cache_max_bytes)
