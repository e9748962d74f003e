"""Stored responses: the database is the copy every replica shares; writes leave the request path.

A response is stored with the chat-form conversation that produced it, so `previous_response_id`
continues it on any upstream. Records are scoped to the API key that made them.

`put` never awaits: the record is served from this process's memory at once and written by a
background flush started right away (puts that arrive meanwhile go in the next batch), with the
scheduler's periodic `flush` as the retry. A follow-up may land on another replica or worker before
that write commits, so a miss in the database is retried for up to `miss_wait_s` before it is a 404.
Decoded records stay in an LRU, but a hit is confirmed against the database (a key-only lookup),
so a DELETE made on another replica holds everywhere at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from app.db.tables import StoredResponseRow

__all__ = ["ResponseStore", "StoredResponse"]

log = logging.getLogger("polyroute.responses")
Json = dict[str, Any]

MISS_WAIT_S = 2.0
"""How long a lookup waits for a record that another process answered but has not written yet."""


@dataclass(slots=True)
class StoredResponse:
    id: str
    key_id: str | None
    response: Json
    conversation: list[Json] | None
    """Chat messages up to and including this response's answer; None until computed."""
    build: Callable[[], list[Json]] | None = None
    """Computes `conversation` lazily (the request's translation is not on the caller's path)."""

    def history(self) -> list[Json]:
        if self.conversation is None:
            self.conversation = self.build() if self.build else []
            self.build = None
        return self.conversation


class ResponseStore:
    def __init__(self, capacity: int = 2000, miss_wait_s: float = MISS_WAIT_S) -> None:
        self._cache: OrderedDict[str, StoredResponse] = OrderedDict()
        self._capacity = capacity
        self._miss_wait_s = miss_wait_s
        self._pending: dict[str, StoredResponse] = {}
        """Put here and not yet committed: only this process can serve them."""
        self._deleted: OrderedDict[str, None] = OrderedDict()
        self._write_lock = asyncio.Lock()
        self._kick: asyncio.Task[None] | None = None

    def put(self, record: StoredResponse) -> None:
        self._remember(record)
        self._pending[record.id] = record
        self._flush_soon()

    def _remember(self, record: StoredResponse) -> None:
        self._cache[record.id] = record
        self._cache.move_to_end(record.id)
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)

    def _flush_soon(self) -> None:
        if self._kick is not None and not self._kick.done():
            return  # the running flush loops until nothing is pending
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): the periodic flush writes it
        self._kick = loop.create_task(self._flush_pending())

    async def _flush_pending(self) -> None:
        while self._pending and await self.flush():
            pass

    async def get(self, response_id: str, key_id: str | None) -> StoredResponse | None:
        if response_id in self._deleted:
            return None
        found = self._pending.get(response_id) or await self._read(response_id)
        return found if found is not None and found.key_id == key_id else None

    async def _read(self, response_id: str) -> StoredResponse | None:
        cached = self._cache.get(response_id)
        deadline = time.monotonic() + self._miss_wait_s
        pause = 0.02
        while True:
            try:
                if cached is not None:
                    if await _exists(response_id):
                        return cached
                    self._cache.pop(response_id, None)  # deleted through another process
                    return None
                row = await StoredResponseRow.select().where(StoredResponseRow.id == response_id).first().run()
            except Exception as exc:
                if cached is None:
                    raise
                log.warning("stored response check failed, serving this process's copy: %s", exc)
                return cached  # the database is away: what this process knows still serves
            if row is not None:
                found = StoredResponse(row["id"], row["key_id"], _load(row["data"]) or {}, _load(row["conversation"]))
                self._remember(found)
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            await asyncio.sleep(min(pause, left))  # it may be another replica's, on its way to the database
            pause *= 2

    async def delete(self, response_id: str, key_id: str | None) -> bool:
        found = await self.get(response_id, key_id)
        if found is None:
            return False
        async with self._write_lock:  # a flush in progress cannot write it back after this
            self._cache.pop(response_id, None)
            self._pending.pop(response_id, None)
            self._deleted[response_id] = None
            while len(self._deleted) > self._capacity:
                self._deleted.popitem(last=False)
            await StoredResponseRow.delete().where(StoredResponseRow.id == response_id).run()
        return True

    async def flush(self) -> int:
        """Write pending records (the conversation is computed here, off the request path)."""
        async with self._write_lock:
            pending = list(self._pending.values())
            if not pending:
                return 0
            rows = [
                StoredResponseRow(
                    id=p.id,
                    key_id=p.key_id,
                    data=msgspec.json.encode(p.response).decode(),
                    conversation=msgspec.json.encode(p.history()).decode(),
                    created_at=datetime.now(UTC),
                )
                for p in pending
            ]
            try:
                await StoredResponseRow.insert(*rows).on_conflict(action="DO NOTHING").run()
            except Exception as exc:  # keep them for the next flush, whatever went wrong
                log.warning("could not store %d responses yet: %s", len(pending), exc)
                return 0
            for p in pending:
                if self._pending.get(p.id) is p:
                    del self._pending[p.id]
            return len(rows)


async def _exists(response_id: str) -> bool:
    return bool(await StoredResponseRow.exists().where(StoredResponseRow.id == response_id).run())


def _load(value: Any) -> Any:
    if isinstance(value, str):
        return msgspec.json.decode(value) if value else None
    return value
