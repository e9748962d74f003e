"""The per-process runtime: everything `create_app` builds, in one object handlers can reach."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from app.accounting.writer import UsageWriter
from app.alerts.job import AlertJob
from app.catalog.cache import CatalogCache
from app.catalog.secrets import SecretBox
from app.db.quiet import DataVersion, Watch
from app.gateway.pipeline import Gateway
from app.health.probes import Prober
from app.settings import Settings
from app.ui_support.oidc import OidcClient

__all__ = ["Inflight", "Runtime"]


class Inflight:
    """Counts in-flight inference requests so shutdown can wait for them (bounded)."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count <= 0:
            self.count = 0
            self._idle.set()

    async def drained(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await self._idle.wait()
            return True
        except TimeoutError:
            return False


@dataclass(slots=True)
class Runtime:
    settings: Settings
    box: SecretBox
    catalog: CatalogCache
    gateway: Gateway
    writer: UsageWriter
    inflight: Inflight
    prober: Prober
    alerts: AlertJob
    oidc: OidcClient | None = None
    """Single sign-on for the admin UI, when an OpenID Connect issuer is configured."""
    changes: DataVersion | None = None
    """SQLite's commit counter, which lets idle polls skip their query (None on Postgres)."""
    ready: bool = False
    fast_paths: dict[str, Any] = field(default_factory=dict)
    """Exact inference paths -> their raw ASGI handlers, served ahead of Litestar's router."""
    socket_paths: dict[str, Any] = field(default_factory=dict)
    """The same for WebSocket connections (the Realtime API)."""
    extras: dict[str, object] = field(default_factory=dict)

    def lease_watch(self) -> Watch:
        """The poll gate for work held under leases (tasks, batches): it also lets a poll run every half
        lease without any commit, because an abandoned lease lapses by the clock alone."""
        return Watch(self.changes, self.settings.task_lease_s / 2)
