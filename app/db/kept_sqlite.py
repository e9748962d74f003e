"""piccolo's SQLite engine with kept connections: a query outside a transaction borrows one.

piccolo opens a new aiosqlite connection for every such query, and aiosqlite gives each connection a
thread of its own: `Thread.start` holds the event loop until the new thread runs (~0.5 ms on the
development VM, more under load), then the connection opens and reads the schema. Every admin page
and every poll paid that per query, the polls several times a second once usage writes keep the
file changing. Here up to `keep` connections stay open between queries; a busier moment opens more
and closes them after, as before. Transactions still get a connection of their own (piccolo's
`get_connection`), so nothing changes for them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiosqlite
from piccolo.engine.sqlite import SQLiteEngine, dict_factory

__all__ = ["KeptSQLiteEngine"]


class KeptSQLiteEngine(SQLiteEngine):
    def __init__(self, *, keep: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._keep = keep
        self._idle: list[aiosqlite.Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _run_in_new_connection(
        self,
        query: str,
        args: list[Any] | None = None,
        query_type: str = "generic",
        table: Any = None,
    ) -> Any:
        # What piccolo's own method does on a new connection, on a kept one.
        connection = await self._borrow()
        kept = False
        try:
            async with connection.execute(query, args or []) as cursor:
                await connection.commit()
                if query_type == "insert" and self.get_version_sync() < 3.35:
                    pk = await self._get_inserted_pk(cursor, table)
                    rows: Any = [{table._meta.primary_key._meta.db_column_name: pk}]
                else:
                    rows = await cursor.fetchall()
            kept = self._give_back(connection)
            return rows
        finally:
            if not kept:
                # Failed or cancelled half way (perhaps inside an implicit transaction), or one too
                # many: closed on its own thread, without waiting here.
                connection.stop()

    async def _borrow(self) -> aiosqlite.Connection:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (a CLI step, then the server): start afresh
            self.close_kept()
            self._loop = loop
        if self._idle:
            return self._idle.pop()
        pending = aiosqlite.connect(**self.connection_kwargs)
        # A kept connection's thread waits for work until closed: as a daemon it cannot hold up the
        # interpreter's exit when a command ends without closing the engine (nothing is open then).
        pending._thread.daemon = True
        connection = await pending
        connection.row_factory = dict_factory  # type: ignore[assignment]
        await connection.execute("PRAGMA foreign_keys = 1")
        return connection

    def _give_back(self, connection: aiosqlite.Connection) -> bool:
        if len(self._idle) >= self._keep:
            return False
        self._idle.append(connection)
        return True

    def close_kept(self) -> None:
        """Close the idle connections (each on its own thread; nothing to await)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.stop()
