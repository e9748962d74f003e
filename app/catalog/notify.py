"""Postgres LISTEN/NOTIFY: other replicas' catalog changes reach this one within milliseconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from app.catalog.cache import CatalogCache
from app.catalog.store import CATALOG_CHANNEL

__all__ = ["CatalogListener", "start_listener"]

log = logging.getLogger("polyroute.catalog")

_CONNECT_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class CatalogListener:
    """A task holding one dedicated asyncpg connection that LISTENs on the catalog channel.

    Each notification wakes a refresher that calls `cache.refresh()` (bursts coalesce into one
    reload). A lost connection is re-opened with exponential backoff, and every (re)connect
    refreshes once to catch what was missed meanwhile. The version poll stays as the safety net.
    """

    def __init__(
        self,
        dsn: str,
        cache: CatalogCache,
        *,
        min_backoff_s: float = 0.25,
        max_backoff_s: float = 10.0,
        keepalive_s: float = 10.0,
    ) -> None:
        self.dsn = dsn
        self.cache = cache
        self.min_backoff_s = min_backoff_s
        self.max_backoff_s = max_backoff_s
        self.keepalive_s = keepalive_s
        self.connected = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="catalog-listen"),
            asyncio.create_task(self._refresh_forever(), name="catalog-refresh"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    async def _refresh_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.cache.refresh()

    async def _listen_forever(self) -> None:
        backoff = self.min_backoff_s
        failing = False
        while True:
            try:
                conn = await asyncpg.connect(self.dsn, timeout=5)
            except _CONNECT_ERRORS as exc:
                if not failing:
                    log.warning("catalog listener cannot connect (retrying with backoff): %s", type(exc).__name__)
                failing = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            if failing:
                log.info("catalog listener reconnected")
            failing, backoff = False, self.min_backoff_s
            await self._serve(conn)

    async def _serve(self, conn: Any) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(CATALOG_CHANNEL, self._notified)
            self.connected.set()
            self._wake.set()  # catch up on anything missed while disconnected
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self.keepalive_s)
                if not lost.is_set():
                    await conn.execute("SELECT 1", timeout=5)  # notices a half-open TCP connection
            log.warning("catalog listener lost its connection; reconnecting")
        except _CONNECT_ERRORS as exc:
            log.warning("catalog listener lost its connection (%s); reconnecting", type(exc).__name__)
        finally:
            self.connected.clear()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)


def start_listener(database_url: str, cache: CatalogCache) -> CatalogListener | None:
    """A running listener for a Postgres URL; None for SQLite (the version poll covers it)."""
    if not database_url.startswith(("postgres://", "postgresql://", "postgresql+asyncpg://")):
        return None
    listener = CatalogListener(database_url.replace("postgresql+asyncpg://", "postgresql://", 1), cache)
    listener.start()
    return listener
