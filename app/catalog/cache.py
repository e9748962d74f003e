"""The replica's catalog cache: the current snapshot, rebuilt when the catalog version moves."""

from __future__ import annotations

import asyncio
import logging

from app.catalog.secrets import SecretBox
from app.catalog.store import current_version, load_snapshot
from app.db.quiet import Watch
from app.gateway.snapshot import CatalogSnapshot

__all__ = ["CatalogCache"]

log = logging.getLogger("polyroute.catalog")


class CatalogCache:
    """Requests read `snapshot` (a plain attribute); writers call `refresh()` after a change.

    Other replicas notice through `poll()` (a version check every second, one tiny query, skipped
    while `watch` says nothing was committed) or a notification channel that calls `refresh()`. If
    the database is unreachable the last good snapshot keeps serving.
    """

    def __init__(self, box: SecretBox, watch: Watch | None = None) -> None:
        self.box = box
        self._watch = watch or Watch(None, 0)
        self.snapshot = CatalogSnapshot.empty()
        self._lock = asyncio.Lock()
        self.healthy = True

    async def refresh(self, force: bool = False) -> bool:
        """Reload if the version changed (or when forced); True when a new snapshot was installed."""
        async with self._lock:
            try:
                version = await current_version()
                if not force and version == self.snapshot.version and self.snapshot.version:
                    self.healthy = True
                    return False
                self.snapshot = await load_snapshot(self.box)
                self.healthy = True
                return True
            except Exception as exc:
                if self.healthy:
                    log.warning("catalog refresh failed, serving the cached snapshot: %s", exc)
                self.healthy = False
                return False

    async def poll(self) -> None:
        if self._watch.moved() or not self.healthy:
            await self.refresh()
