"""A database URL per storage backend: SQLite (a temp file) and Postgres (a fresh, dropped-after database).

Postgres is reached through `POLYROUTE_TEST_POSTGRES_URL` (default: the CI server's `test` database,
`postgresql://postgres@127.0.0.1:5432/test`), which is only used to CREATE and DROP a uniquely
named `polyroute_t_<random>` database, so parallel runs never collide. When Postgres is unreachable
the test is skipped with a message, except under CI=true, where it fails.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.gateway_process import GatewayProcess, start_gateway

__all__ = ["BACKENDS", "POSTGRES_ADMIN_URL", "database_url", "gateway_on", "postgres_unavailable"]

T = TypeVar("T")

POSTGRES_ADMIN_URL = os.environ.get("POLYROUTE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
"""`@pytest.mark.parametrize("backend", BACKENDS)` or `params=BACKENDS` on a fixture."""


def postgres_unavailable(reason: str) -> NoReturn:
    message = (
        f"Postgres is not reachable at {_redact(POSTGRES_ADMIN_URL)} ({reason}); start it or point "
        "POLYROUTE_TEST_POSTGRES_URL at a server where this user may CREATE DATABASE"
    )
    if IN_CI:
        pytest.fail(message + " -- mandatory because CI=true", pytrace=False)
    pytest.skip(message)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on its own loop in a helper thread (pytest-asyncio may own this thread's loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _database_url(name: str) -> str:
    return urlunsplit(urlsplit(POSTGRES_ADMIN_URL)._replace(path=f"/{name}"))


@contextmanager
def database_url(backend: str, tmp: Path) -> Iterator[str]:
    """Yield a URL for an empty database of `backend`; Postgres databases are dropped afterwards."""
    if backend == "sqlite":
        tmp.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{tmp / f'polyroute-{secrets.token_hex(4)}.db'}"
        return
    if backend != "postgres":
        raise ValueError(f"unknown backend {backend!r}")
    name = f"polyroute_t_{secrets.token_hex(6)}"
    try:
        _run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        postgres_unavailable(f"{type(exc).__name__}: {exc}")
    try:
        yield _database_url(name)
    finally:
        _run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def gateway_on(backend: str, tmp: Path, config: dict[str, Any] | None, **kwargs: Any) -> Iterator[GatewayProcess]:
    """A gateway (`start_gateway` arguments) on an empty database of `backend`, stopped and dropped afterwards."""
    with database_url(backend, tmp / "db") as url:
        gw = start_gateway(tmp, config, database_url=url, **kwargs)
        try:
            yield gw
        finally:
            gw.stop()


@pytest.fixture(scope="module", name="backend")
def sqlite_backend() -> str:
    """One database for a module that imports this: it checks a provider's wire format, which no database
    changes (the accounting it touches runs on both databases in tests/integration/usage)."""
    return "sqlite"
