"""What every catalog write needs: the context, the write transaction, ownership and lookups."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from piccolo.columns import Column
from piccolo.custom_types import Combinable
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.table import Table

from app.catalog.audit import Change, record
from app.catalog.cache import CatalogCache
from app.catalog.secrets import SecretBox
from app.catalog.store import bump_version
from app.db.tables import CatalogStateRow
from app.errors import ConflictError, NotFoundError
from app.settings import Settings

__all__ = [
    "ServiceContext",
    "ensure_api_owned",
    "find_row",
    "is_unique_violation",
    "writing",
]


@dataclass(frozen=True, slots=True)
class ServiceContext:
    """Built once per process (API) or per command (CLI)."""

    box: SecretBox
    cache: CatalogCache | None = None
    """This replica's cache, refreshed after every write; None in the CLI (servers poll or listen)."""
    config_path: str | None = None
    allowed_upstream_hosts: tuple[str, ...] = ()
    hook_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """POLYROUTE_HOOK_OPTIONS: the defaults a route's own hook options are checked over."""

    @classmethod
    def for_server(cls, box: SecretBox, cache: CatalogCache, settings: Settings) -> ServiceContext:
        return cls(
            box=box,
            cache=cache,
            config_path=settings.config_path,
            allowed_upstream_hosts=settings.allowed_upstream_hosts,
            hook_options=settings.hook_options,
        )


def _transaction() -> Any:
    db = CatalogStateRow._meta.db
    if isinstance(db, SQLiteEngine):
        # IMMEDIATE takes the write lock up front, so two writers queue instead of deadlocking.
        return db.transaction(transaction_type=TransactionType.immediate)
    return db.transaction()


@asynccontextmanager
async def writing(ctx: ServiceContext, change: Change) -> AsyncIterator[None]:
    """One atomic catalog change: the writes, its audit row, the version bump (NOTIFY on Postgres), then this
    replica's refresh."""
    try:
        async with _transaction():
            yield
            await record(change)
            await bump_version()
    except Exception as exc:
        if is_unique_violation(exc):
            raise ConflictError("The change conflicts with an existing object of the same name") from None
        raise
    if ctx.cache is not None:
        await ctx.cache.refresh(force=True)


def is_unique_violation(exc: BaseException) -> bool:
    if getattr(exc, "sqlstate", None) == "23505":  # asyncpg's UniqueViolationError
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)


def ensure_api_owned(ctx: ServiceContext, row: dict[str, Any], what: str) -> None:
    """Objects from the config file are re-applied at every start, so API edits would silently vanish."""
    if row.get("source") == "config":
        where = ctx.config_path or "(the file this gateway was started with)"
        raise ConflictError(f"{what} is owned by the config file {where}; edit the file")


async def find_row(table: type[Table], ref: str, name_column: Column | None, what: str) -> dict[str, Any]:
    """A row by id, or by its unique name when the table has one; 404 otherwise."""
    id_column: Column = table._meta.primary_key
    match: Combinable = id_column == ref
    if name_column is not None:
        match = match | (name_column == ref)
    row: dict[str, Any] | None = await table.select().where(match).first().run()
    if row is None:
        raise NotFoundError(f"No {what} with id or name '{ref}'")
    return row
