"""Files owned by an API key: batch inputs uploaded through /v1/files and the files batches produce."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from app.batches.ids import new_id
from app.db.tables import FileObjectRow

__all__ = ["FileRecord", "create", "delete", "get", "insert", "list_files", "read"]

_META = (
    FileObjectRow.id,
    FileObjectRow.key_id,
    FileObjectRow.filename,
    FileObjectRow.purpose,
    FileObjectRow.size,
    FileObjectRow.created_at,
)


class FileRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A file's metadata (its bytes are read separately)."""

    id: str
    key_id: str | None
    filename: str
    purpose: str
    size: int
    created_at: datetime

    def public(self) -> dict[str, Any]:
        """OpenAI's file object."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.size,
            "created_at": int(self.created_at.timestamp()),
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


def _record(row: dict[str, Any]) -> FileRecord:
    return FileRecord(
        id=row["id"],
        key_id=row["key_id"],
        filename=row["filename"],
        purpose=row["purpose"],
        size=row["size"],
        created_at=row["created_at"],
    )


def insert(key_id: str, filename: str, purpose: str, content: bytes) -> tuple[Any, FileRecord]:
    """The insert query (to run alone or inside a transaction) and the record it creates."""
    record = FileRecord(
        id=new_id("file-"),
        key_id=key_id,
        filename=filename,
        purpose=purpose,
        size=len(content),
        created_at=datetime.now(UTC),
    )
    row = FileObjectRow(
        id=record.id,
        key_id=key_id,
        filename=filename,
        purpose=purpose,
        size=record.size,
        content=content,
        created_at=record.created_at,
    )
    return FileObjectRow.insert(row), record


async def create(key_id: str, filename: str, purpose: str, content: bytes) -> FileRecord:
    query, record = insert(key_id, filename, purpose, content)
    await query.run()
    return record


def _mine(file_id: str, key_id: str | None) -> Any:
    where: Any = FileObjectRow.id == file_id
    if key_id is not None:
        where &= FileObjectRow.key_id == key_id
    return where


async def get(file_id: str, key_id: str | None) -> FileRecord | None:
    """The file, if it exists and (when `key_id` is given) belongs to that key."""
    row = await FileObjectRow.select(*_META).where(_mine(file_id, key_id)).first().run()
    return _record(row) if row else None


async def read(file_id: str, key_id: str | None) -> bytes | None:
    row = await FileObjectRow.select(FileObjectRow.content).where(_mine(file_id, key_id)).first().run()
    return bytes(row["content"]) if row else None


async def delete(file_id: str, key_id: str) -> bool:
    rows = await FileObjectRow.delete().where(_mine(file_id, key_id)).returning(FileObjectRow.id).run()
    return bool(rows)


async def list_files(
    key_id: str, *, purpose: str | None, limit: int, after: str | None
) -> tuple[list[FileRecord], bool]:
    """A key's files, newest first; `after` is the last id of the previous page. Returns (page, has_more)."""
    where: Any = FileObjectRow.key_id == key_id
    if purpose is not None:
        where &= FileObjectRow.purpose == purpose
    if after is not None:
        where &= FileObjectRow.id < after
    query = FileObjectRow.select(*_META).where(where).order_by(FileObjectRow.id, ascending=False)
    rows = await query.limit(limit + 1).run()
    return [_record(r) for r in rows[:limit]], len(rows) > limit
