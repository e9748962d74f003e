"""Idle polls skip their query while nothing is committed to the SQLite file (`app/db/quiet.py`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.db.quiet import DataVersion, Watch, data_version_for


def _commit(path: Path, value: int) -> None:
    with sqlite3.connect(path) as conn:  # another connection, as piccolo's writes are
        conn.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
        conn.execute("INSERT INTO t VALUES (?)", (value,))
    conn.close()


def test_a_commit_by_another_connection_moves_every_watch_once(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    _commit(path, 0)
    source = DataVersion(str(path))
    now = [0.0]
    catalog, tasks = source.watch(30, clock=lambda: now[0]), source.watch(30, clock=lambda: now[0])
    assert catalog.moved() and tasks.moved()  # the first look always runs the poll
    assert not catalog.moved() and not tasks.moved()
    _commit(path, 1)
    assert catalog.moved()
    assert not catalog.moved()
    assert tasks.moved()  # each watch keeps its own place
    with sqlite3.connect(path) as conn:  # a read is not a change
        conn.execute("SELECT count(*) FROM t").fetchone()
    conn.close()
    assert not catalog.moved()
    source.close()


def test_a_quiet_database_is_still_polled_every_max_quiet_seconds(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    _commit(path, 0)
    now = [100.0]
    watch = DataVersion(str(path)).watch(15, clock=lambda: now[0])
    assert watch.moved()
    now[0] += 14.9
    assert not watch.moved()
    now[0] += 0.2  # a lease may have lapsed by the clock alone
    assert watch.moved()
    assert not watch.moved()


def test_without_a_readable_counter_every_poll_runs(tmp_path: Path) -> None:
    assert data_version_for("postgresql://u@127.0.0.1/test") is None
    postgres = Watch(None, 30)
    assert postgres.moved() and postgres.moved()
    unreadable = DataVersion(str(tmp_path / "missing-dir" / "db.sqlite")).watch(30)
    assert unreadable.moved() and unreadable.moved()
    source = data_version_for(f"sqlite:///{tmp_path / 'x.db'}")
    assert isinstance(source, DataVersion)
    source.close()
