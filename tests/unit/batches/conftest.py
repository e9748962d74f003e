"""A migrated, empty database per backend (SQLite file, fresh Postgres database), bound to the tables."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.db.engine import close_database, migrate, start_pool, use_database
from tests.db_backends import BACKENDS, database_url


@pytest.fixture(params=BACKENDS)
async def batch_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    with database_url(request.param, tmp_path) as url:
        await migrate(url)
        engine = use_database(url)
        await start_pool(engine)
        try:
            yield url
        finally:
            await close_database(engine)
