"""Stored responses: an in-memory LRU in front of the database, written in batches off the hot path.

A response is stored with the chat-form conversation that produced it, so `previous_response_id`
continues it on any upstream. Records are scoped to the API key that made them.
"""

from __future__ import annotations

import logging
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
    def __init__(self, capacity: int = 2000) -> None:
        self._cache: OrderedDict[str, StoredResponse] = OrderedDict()
        self._capacity = capacity
        self._pending: list[StoredResponse] = []
        self._deleted: set[str] = set()

    def put(self, record: StoredResponse) -> None:
        self._cache[record.id] = record
        self._cache.move_to_end(record.id)
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        self._pending.append(record)

    async def get(self, response_id: str, key_id: str | None) -> StoredResponse | None:
        if response_id in self._deleted:
            return None
        found = self._cache.get(response_id)
        if found is None:
            row = await StoredResponseRow.select().where(StoredResponseRow.id == response_id).first().run()
            if row is None:
                return None
            found = StoredResponse(row["id"], row["key_id"], _load(row["data"]) or {}, _load(row["conversation"]))
            self._cache[response_id] = found
        return found if found.key_id == key_id else None

    async def delete(self, response_id: str, key_id: str | None) -> bool:
        found = await self.get(response_id, key_id)
        if found is None:
            return False
        self._cache.pop(response_id, None)
        self._deleted.add(response_id)
        self._pending = [p for p in self._pending if p.id != response_id]
        await StoredResponseRow.delete().where(StoredResponseRow.id == response_id).run()
        return True

    async def flush(self) -> int:
        """Write pending records (the conversation is computed here, off the request path)."""
        pending, self._pending = self._pending, []
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
            self._pending = pending + self._pending
            return 0
        return len(rows)


def _load(value: Any) -> Any:
    if isinstance(value, str):
        return msgspec.json.decode(value) if value else None
    return value
