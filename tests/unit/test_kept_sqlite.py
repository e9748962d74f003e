"""On SQLite, queries outside a transaction reuse a few kept connections (app/db/kept_sqlite.py)
instead of a new connection, and so a new thread, each; what they read and write is unchanged."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.catalog.store import bump_version, current_version
from app.db.engine import close_database, migrate, use_database
from app.db.kept_sqlite import KeptSQLiteEngine
from app.db.tables import CatalogStateRow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[KeptSQLiteEngine]:
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    await migrate(url)
    bound = use_database(url)
    assert isinstance(bound, KeptSQLiteEngine)
    assert await bump_version() == 1  # the catalog's one row, as a served database has it
    yield bound
    await close_database(bound)


def _workers() -> int:
    return sum(1 for t in threading.enumerate() if "_connection_worker_thread" in t.name)


async def test_sequential_queries_start_no_thread_after_the_first(
    engine: KeptSQLiteEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[threading.Thread] = []
    start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda self: (started.append(self), start(self))[1])
    for _ in range(50):
        await current_version()
    assert started == []  # the fixture's queries left a connection open, and every query reused it


async def test_a_commit_elsewhere_is_seen_and_a_write_here_is_seen_elsewhere(engine: KeptSQLiteEngine) -> None:
    before = await current_version()
    with sqlite3.connect(engine.path) as other:
        other.execute("UPDATE catalog_state SET version = version + 5 WHERE id = 1")
    other.close()
    assert await current_version() == before + 5  # no read snapshot is held between queries
    async with engine.transaction():  # a transaction still has a connection of its own
        await CatalogStateRow.update({CatalogStateRow.version: 100}).where(CatalogStateRow.id == 1).run()
    assert await current_version() == 100
    assert await bump_version() == 101
    with sqlite3.connect(engine.path) as other:
        assert other.execute("SELECT version FROM catalog_state WHERE id = 1").fetchone() == (101,)
    other.close()


async def test_a_burst_opens_what_it_needs_and_keeps_four(engine: KeptSQLiteEngine) -> None:
    versions = await asyncio.gather(*(current_version() for _ in range(12)))
    assert len(set(versions)) == 1
    for _ in range(50):  # the extra connections close on their own threads
        if _workers() <= 4:
            break
        await asyncio.sleep(0.02)
    assert _workers() == 4


async def test_a_failed_write_leaves_no_transaction_open(engine: KeptSQLiteEngine) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await CatalogStateRow.raw("INSERT INTO catalog_state (id, version) VALUES (1, 0)").run()
    with pytest.raises(sqlite3.OperationalError):
        await CatalogStateRow.raw("SELECT nothing FROM nowhere").run()
    with sqlite3.connect(engine.path, timeout=0.5) as other:  # would be "database is locked" otherwise
        other.execute("UPDATE catalog_state SET version = 7 WHERE id = 1")
    other.close()
    assert await current_version() == 7


def test_a_command_that_never_closes_the_engine_still_exits(tmp_path: Path) -> None:
    db = tmp_path / "exit.db"
    script = f"""
import asyncio
from app.db.engine import migrate, use_database
from app.catalog.store import current_version
url = "sqlite:///{db}"
asyncio.run(migrate(url))
use_database(url)
print(asyncio.run(current_version()), asyncio.run(current_version()))  # two loops, one engine
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "0 0"), done.stderr
