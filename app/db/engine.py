"""Database URL -> piccolo engine, bound to every table, plus migrations."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.table import Table

from app.db.tables import ALL_TABLES

__all__ = [
    "close_database",
    "engine_for_url",
    "migrate",
    "sqlite_path",
    "start_pool",
    "startup_lock",
    "use_database",
]

_MIGRATION_LOCK_ID = 0x706F6C79  # "poly"


def sqlite_path(url: str) -> str | None:
    """The file of a `sqlite:` URL (None for any other scheme): sqlite:///relative.db and
    sqlite:////absolute.db, as SQLAlchemy spells them."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite":
        return None
    return url[len("sqlite:///") :] if url.startswith("sqlite:///") else parts.path


def engine_for_url(url: str) -> Engine:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = sqlite_path(url)
        if not path:
            raise ValueError(f"database URL {url!r} names no file")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return SQLiteEngine(path=path, timeout=30)
    if parts.scheme in {"postgres", "postgresql", "postgresql+asyncpg"}:
        dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        return PostgresEngine(config={"dsn": dsn}, log_queries=False)
    raise ValueError(f"unsupported database URL scheme {parts.scheme!r} (use sqlite:/// or postgresql://)")


def use_database(url: str) -> Engine:
    """Bind every table to the engine for `url`.

    Piccolo's migration machinery (its conf module, the Migration table) is imported only by
    `migrate`: it pulls in black and friends, about 70 MB a worker process never needs.
    """
    engine = engine_for_url(url)
    tables: list[type[Table]] = list(ALL_TABLES)
    for table in tables:
        table._meta.db = engine
    return engine


def _bind_migrations(engine: Engine) -> None:
    from piccolo.apps.migrations.tables import Migration

    from app.db import piccolo_conf

    piccolo_conf.DB = engine  # type: ignore[assignment]  # piccolo reads this module attribute
    Migration._meta.db = engine


async def start_pool(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=10)


async def close_database(engine: Engine, timeout: float = 5.0) -> None:
    """Close the pool; one a connection was never given back to is terminated after `timeout`
    (asyncpg's close waits for every connection, and a shutdown must not wait forever)."""
    if isinstance(engine, PostgresEngine) and engine.pool is not None:
        try:
            await asyncio.wait_for(engine.close_connection_pool(), timeout)
        except TimeoutError:
            engine.pool.terminate()


async def migrate(url: str) -> list[str]:
    """Run every pending piccolo migration; returns the names of those that ran.

    piccolo's own progress lines stay off stdout: on a fresh database they count every migration as
    both already complete and not yet run. The callers say what ran instead."""
    os.environ.setdefault("PICCOLO_CONF", "app.db.piccolo_conf")
    from piccolo.apps.migrations.commands.forwards import run_forwards

    engine = use_database(url)
    _bind_migrations(engine)
    async with startup_lock(engine):
        before = await _migrations_ran()
        with contextlib.redirect_stdout(io.StringIO()) as said:
            result = await run_forwards(app_name="polyroute")
        ran = [name for name in await _migrations_ran() if name not in before]
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message or said.getvalue().strip()}")
    if isinstance(engine, SQLiteEngine):
        _write_ahead_log(engine.path)
    return ran


async def _migrations_ran() -> list[str]:
    from piccolo.apps.migrations.tables import Migration

    if not await Migration.table_exists().run():
        return []
    return await Migration.get_migrations_which_ran(app_name="polyroute")


def _write_ahead_log(path: str) -> None:
    """WAL: readers (catalog polls, the admin UI) no longer wait on a usage write, and a commit costs
    one fsync instead of the rollback journal's several. The mode is stored in the file itself."""
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


@asynccontextmanager
async def startup_lock(engine: Engine) -> AsyncIterator[None]:
    """On Postgres, replicas starting together take turns (a session advisory lock): one at a time
    migrates, then one at a time applies the config file (select-then-insert upserts would race)."""
    if not isinstance(engine, PostgresEngine):
        yield
        return
    import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

    conn = await asyncpg.connect(engine.config["dsn"], timeout=10)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_ID)
        yield
    finally:
        await conn.close()  # ends the session, which releases the lock
