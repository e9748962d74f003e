"""The batched usage writer: queue -> journal segment (local file) -> database, off the hot path.

Every flush first moves what is queued into a spool segment (fsynced), then writes segments to
the request log and the rollups and deletes each one once committed. While the database is
unreachable the segments simply stay and are written, in order, once it answers again. A
SIGKILL therefore loses at most what was queued since the last journal run, that is one flush
interval; SIGTERM loses nothing (the lifespan's last flush), and a DB outage loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from app.accounting.queue import UsageQueue
from app.accounting.rows import mark_keys_used, note_key_use, write_events
from app.accounting.spool import Segment, Spool

__all__ = ["UsageWriter"]

log = logging.getLogger("polyroute.accounting")


class UsageWriter:
    """Run `flush()` every interval (APScheduler) and once more at shutdown.

    `journal()` alone (a second, independent job) keeps the SIGKILL bound while a slow database
    holds a flush up.
    """

    def __init__(self, queue: UsageQueue, spool_path: str, batch_size: int = 500, in_memory: int = 5_000) -> None:
        self.queue = queue
        self.spool = Spool(spool_path)
        self.batch_size = batch_size
        self.in_memory = in_memory
        """Journaled events kept decoded in memory at most; beyond, a backlog is re-read from disk."""
        self.written = 0
        """Request-log rows this process wrote (replays of other processes' segments included)."""
        self.last_flush_lag_s = 0.0
        self.db_failing = False
        self._segments: list[Segment] = []
        self._writing: set[Path] = set()
        self._drain_lock = asyncio.Lock()
        self._kick: asyncio.Task[Any] | None = None
        queue.high_water = batch_size
        queue.on_high_water = self._flush_soon

    @property
    def pending(self) -> int:
        """Events journaled but not yet in the database (inherited segments count once loaded)."""
        return sum(s.count for s in self._segments)

    @property
    def held(self) -> int:
        """Journaled events held decoded in memory (at most about `in_memory`, plus the chunk being written)."""
        return sum(len(s.events) for s in self._segments if s.events is not None)

    def _flush_soon(self) -> None:
        if self._kick is None or self._kick.done():
            self._kick = asyncio.get_running_loop().create_task(self.flush())

    async def journal(self) -> int:
        """Move what is queued now into one spool segment; touches only the local disk.

        Events that arrive meanwhile wait for the next run: looping until the queue was empty
        never ended under load and cut the stream into many tiny fsynced segments.
        """
        if not len(self.queue):
            return 0
        events = self.queue.take(len(self.queue))
        path = self.spool.next_path()
        self._writing.add(path)
        try:
            segment = await asyncio.to_thread(self.spool.write, events, path)
        except OSError as exc:
            log.error("cannot write the usage spool (%s); %d events stay in memory", exc, len(events))
            self.queue.requeue_front(events)
            return 0
        finally:
            self._writing.discard(path)
        if self.held >= self.in_memory:
            segment.unload()  # the database is behind (or down): keep the backlog on disk only
        self._segments.append(segment)
        return len(events)

    async def flush(self) -> int:
        """Journal what is queued, then write every journaled event; returns how many rows were new."""
        await self.journal()
        async with self._drain_lock:
            return await self._drain()

    def _next_chunk(self) -> list[Segment]:
        """Whole segments, up to about `batch_size` events (at least one segment)."""
        chunk: list[Segment] = []
        count = 0
        for segment in list(self._segments):
            size = len(segment.load())
            if chunk and count + size > self.batch_size:
                break
            chunk.append(segment)
            count += size
        return chunk

    async def _drain(self) -> int:
        # Files are touched off the event loop: an unlink or a rename can wait on the filesystem's
        # journal while another thread fsyncs (suspected of a periodic stall that turned out to be
        # the probes' SSL setup; kept because a blocking call has no place on the loop anyway).
        own = {s.path for s in self._segments} | self._writing
        self._segments.extend(await asyncio.to_thread(self.spool.inherited, own))
        written = 0
        committed: list[Segment] = []
        latest: dict[str, float] = {}
        try:
            while self._segments:
                chunk = self._next_chunk()
                events = [e for s in chunk for e in s.load()]
                if events:
                    self.last_flush_lag_s = max(0.0, time.time() - min(e.ts for e in events))
                try:
                    for start in range(0, len(events), self.batch_size):
                        new = await write_events(events[start : start + self.batch_size])
                        written += new
                        self.written += new
                except Exception as exc:
                    self._failed(exc)
                    return written
                note_key_use(latest, events)
                for segment in chunk:
                    self._segments.remove(segment)
                committed += chunk
        finally:
            # Once per drain, not per chunk: each is a round trip, and a crash before it only
            # replays committed segments, which counts nothing twice.
            if committed:
                await mark_keys_used(latest)
                await asyncio.to_thread(self.spool.remove_all, committed)
        if self.db_failing:
            log.warning("usage database reachable again; spooled events written")
            self.db_failing = False
        return written

    def _failed(self, exc: Exception) -> None:
        if not self.db_failing:
            log.warning(
                "usage write failed (%s: %s); events stay in the spool at %s until the database answers",
                type(exc).__name__,
                exc,
                self.spool.dir,
            )
        self.db_failing = True
