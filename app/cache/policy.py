"""Whether a request uses the cache, and how: route, key, plan and the caller's headers decide.

Opt in per route (`params.cache`), per key (`metadata.cache: true`) or per request
(`x-polyroute-cache: use | refresh`). Opt out per request (`x-polyroute-cache: off`,
`Cache-Control: no-store`), per key (`metadata.cache: false`) or per plan (`cache: false`, which
no header overrides). `Cache-Control: no-cache` on a cached route means refresh: skip the lookup,
store the fresh answer. Requests with `n > 1` or an explicit `temperature > 0` are not cached
unless the route says `cache_nondeterministic: true`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from app.catalog.specs import RouteParams
from app.errors import InvalidRequestError
from app.gateway.snapshot import KeyRecord

__all__ = ["CACHEABLE_ENDPOINTS", "HEADER", "Mode", "cache_mode", "cache_scope", "nondeterministic"]

HEADER = "x-polyroute-cache"
CACHEABLE_ENDPOINTS = frozenset({"chat.completions", "completions", "messages", "responses", "embeddings", "rerank"})
"""Every response of these carries `x-polyroute-cache: hit | miss | refresh | off`."""

Mode = Literal["use", "refresh", "off"]
_MODES = ("use", "refresh", "off")


def _asked(headers: Mapping[str, str]) -> str | None:
    raw = headers.get(HEADER)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value not in _MODES:
        raise InvalidRequestError(f"{HEADER} must be one of use, refresh, off; got {raw[:40]!r}", param=HEADER)
    return value


def cache_mode(params: RouteParams, key: KeyRecord, headers: Mapping[str, str]) -> Mode:
    """use, refresh or off for this request, before looking at its body."""
    asked = _asked(headers)
    key_flag = key.metadata.get("cache")
    if asked == "off" or key_flag is False or (key.plan is not None and not key.plan.cache):
        return "off"
    if not (params.cache or asked is not None or key_flag is True):
        return "off"
    if asked == "refresh":
        return "refresh"
    control = headers.get("cache-control", "").lower()
    if asked is None and "no-store" in control:
        return "off"
    if asked is None and "no-cache" in control:
        return "refresh"
    return "use"


def nondeterministic(body: Mapping[str, Any]) -> bool:
    """Several choices, or sampling asked for explicitly: a replay would not be what the caller wanted."""
    n = body.get("n")
    temperature = body.get("temperature")
    many = isinstance(n, int) and not isinstance(n, bool) and n > 1
    hot = isinstance(temperature, int | float) and not isinstance(temperature, bool) and temperature > 0
    return many or hot


def cache_scope(params: RouteParams, key: KeyRecord) -> str:
    """Whose answers a request may see: its owner's (user, else key), or everyone's on a shared route."""
    if params.cache_shared:
        return "shared"
    return f"user:{key.user_id}" if key.user_id else f"key:{key.id}"
