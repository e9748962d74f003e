"""Provider probes: a free request (GET /models or the like) per provider on its own interval.

A failed probe counts against every model of the provider, so a dead provider is marked down
before a user request hits it; a passing probe closes a breaker a failed probe opened, and turns
one the model's own failures opened half-open (one real request decides), so traffic returns within
one probe interval of a recovery. Probes never send a generation request: they cost nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from app.catalog.specs import is_pattern
from app.gateway.snapshot import CatalogSnapshot, ProviderEntry
from app.gateway.upstream import UpstreamFailure, UpstreamPool
from app.health.scores import HealthRegistry
from app.providers.registry import ADAPTERS

__all__ = ["ProbeResult", "Prober"]

log = logging.getLogger("polyroute.health")


@dataclass(slots=True)
class ProbeResult:
    ok: bool
    status: int | None
    latency_ms: float
    error: str | None
    at: float


@dataclass
class Prober:
    health: HealthRegistry
    pool: UpstreamPool
    results: dict[str, ProbeResult] = field(default_factory=dict)
    _due: dict[str, float] = field(default_factory=dict)

    async def probe(self, provider: ProviderEntry) -> ProbeResult:
        """Run one probe now and record it."""
        adapter = ADAPTERS[provider.kind]
        req = adapter.probe(provider)
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        # Through the provider's pooled session: a client made per probe built an SSL context on
        # the event loop each time, a 40-80 ms stall of every request in flight every 30 s.
        timeout = min(provider.timeout_s, 10.0)
        try:
            resp = await self.pool.open(provider.name, req, first_byte_timeout=timeout)
            try:
                await resp.read(timeout)  # read whole: the connection goes back to the pool
            finally:
                resp.close()
            status = resp.status  # only once the answer arrived whole
        except (UpstreamFailure, OSError) as exc:
            error = f"{exc.__class__.__name__}: {exc}"[:300]
        ok = status is not None and status < 500 and status not in (401, 403)
        if status is not None and not ok:
            error = f"HTTP {status}"
        result = ProbeResult(ok, status, (time.perf_counter() - started) * 1000, error, time.time())
        self.results[provider.name] = result
        for model_id in provider.models:
            if not is_pattern(model_id):  # a glob's models have health of their own, from their calls
                self.health.probe_result(f"{provider.name}/{model_id}", ok)
        if not ok:
            log.warning("probe of provider %s failed: %s", provider.name, error)
        return result

    async def tick(self, snapshot: CatalogSnapshot) -> None:
        """Called every second; probes the providers whose interval has elapsed."""
        now = time.monotonic()
        due = []
        for provider in snapshot.providers.values():
            if not provider.enabled or provider.probe_interval_s <= 0 or provider.kind not in ADAPTERS:
                continue
            if not ADAPTERS[provider.kind].capabilities.models_endpoint:
                continue
            if now >= self._due.get(provider.name, 0.0):
                self._due[provider.name] = now + provider.probe_interval_s
                due.append(self.probe(provider))
        if due:
            await asyncio.gather(*due)
