"""'Test connection': send a provider adapter's free probe request and describe what came back.

The probe goes over httpx (not the hot path's pooled sessions); the in-process demo provider is
answered through the gateway's own upstream pool, which is where `inproc://` is served. Nothing the
upstream says is shown before the provider's own credential has been scrubbed from it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec

from app.catalog.specs import is_pattern
from app.gateway.snapshot import ProviderEntry
from app.gateway.upstream import UpstreamFailure, UpstreamPool
from app.providers.base import ProviderAdapter, UpstreamRequest
from app.providers.registry import ADAPTERS

__all__ = ["ProbeResult", "probe_provider"]

PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    message: str
    status: int | None = None
    latency_ms: float | None = None
    missing_models: list[str] = field(default_factory=list)
    """Configured models the upstream's model list does not mention."""


def _scrub(text: str, entry: ProviderEntry) -> str:
    text = text[:300]
    if entry.api_key:
        text = text.replace(entry.api_key, "[redacted]")
    return text


def _listed_models(body: bytes) -> set[str] | None:
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    items = doc.get("data") or doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return None
    ids = {str(i.get("id") or i.get("name") or "") for i in items if isinstance(i, dict)}
    return {i.removeprefix("models/") for i in ids if i}


async def _send(req: UpstreamRequest, entry: ProviderEntry, pool: UpstreamPool) -> tuple[int, bytes]:
    timeout = min(entry.timeout_s, PROBE_TIMEOUT_S)
    if req.url.startswith("inproc://"):
        response = await pool.open(entry.name, req, first_byte_timeout=timeout)
        try:
            return response.status, await response.read(timeout)
        finally:
            response.close()
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        reply = await client.request(req.method, req.url, headers=req.headers, content=req.body)
        return reply.status_code, reply.content[: 256 * 1024]


def _verdict(adapter: ProviderAdapter, entry: ProviderEntry, status: int, body: bytes, ms: float) -> ProbeResult:
    if 200 <= status < 300:
        listed = _listed_models(body)
        missing = sorted(m for m in entry.models if not is_pattern(m) and m not in listed) if listed is not None else []
        note = f"; the upstream lists {len(listed)} models" if listed is not None else ""
        return ProbeResult(True, f"Connected: HTTP {status} in {ms:.0f} ms{note}", status, ms, missing)
    detail = _scrub(adapter.parse_error(status, body).message, entry)
    hint = " (check the API key)" if status in (401, 403) else ""
    return ProbeResult(False, f"HTTP {status}{hint}: {detail}", status, ms)


async def probe_provider(entry: ProviderEntry, pool: UpstreamPool) -> ProbeResult:
    adapter = ADAPTERS.get(entry.kind)
    if adapter is None:
        return ProbeResult(False, f"This build has no adapter for kind '{entry.kind}'")
    started = time.perf_counter()
    try:
        status, body = await _send(adapter.probe(entry), entry, pool)
    except httpx.TimeoutException:
        return ProbeResult(False, f"No answer within {min(entry.timeout_s, PROBE_TIMEOUT_S):g} s")
    except (httpx.HTTPError, UpstreamFailure, OSError) as exc:
        reason: Any = exc.__class__.__name__
        return ProbeResult(False, _scrub(f"Cannot reach {entry.base_url}: {reason}: {exc}", entry))
    return _verdict(adapter, entry, status, body, (time.perf_counter() - started) * 1000)
