"""Two replicas on one database: a change made on one reaches the other within 2 s.

On Postgres the second replica polls only once a minute, so LISTEN/NOTIFY alone must carry the change
(including after its listening connection is killed); on SQLite the 1 s version poll does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest

from tests.db_backends import BACKENDS
from tests.gateway_process import GatewayProcess, start_gateway
from tests.integration.admin.conftest import Admin, SecretWatch, unique, wait_until


@pytest.fixture(scope="module")
def replica(
    gw: GatewayProcess, db_url: str, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    secret_key = (gw.data_dir / "polyroute.secret").read_text().strip()
    poll = "60" if backend == "postgres" else "1.0"
    process = start_gateway(
        tmp_path_factory.mktemp("replica"),
        None,
        env={"POLYROUTE_SECRET_KEY": secret_key, "POLYROUTE_CATALOG_POLL_S": poll},
        database_url=db_url,
    )
    yield process
    process.stop()


@pytest.fixture
def other(replica: GatewayProcess, watch: SecretWatch) -> Admin:
    return Admin(replica, watch)


def test_key_created_and_revoked_on_one_replica_reaches_the_other(api: Admin, other: Admin) -> None:
    with api.admin() as admin:
        key = admin.post("/v1/api-keys", json={"name": unique("repl"), "plan": "cfg-plan"}).json()
        wait_until(lambda: other.inference(key["key"]) == 200, timeout=2)
        admin.delete(f"/v1/api-keys/{key['id']}")
    assert api.inference(key["key"]) == 401
    wait_until(lambda: other.inference(key["key"]) == 401, timeout=2)


def test_provider_created_on_the_other_replica_serves_here(api: Admin, other: Admin) -> None:
    name = unique("far")
    with other.admin() as admin:
        created = admin.post("/v1/configs", json={"name": name, "kind": "demo", "models": [{"id": "echo"}]})
        assert created.status_code == 201, created.text
    with api.client(api.gw.api_key) as client:
        body = {"model": f"{name}/echo", "messages": [{"role": "user", "content": "x"}]}
        wait_until(lambda: client.post("/v1/chat/completions", json=body).status_code == 200, timeout=2)


def test_a_user_token_works_on_every_replica(api: Admin, other: Admin) -> None:
    _, client = api.user(plan="cfg-plan")
    with client, other.client(client.headers["Authorization"].split(" ", 1)[1]) as there:
        assert there.get("/v1/auth/me").status_code == 200


async def _kill_listeners(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'"
        )
        return len(rows)
    finally:
        await conn.close()


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b.id == "postgres"], indirect=True)
def test_listener_reconnects_after_its_connection_dies(api: Admin, other: Admin, db_url: str) -> None:
    """LISTEN/NOTIFY is Postgres only (SQLite replicas rely on the poll), so this runs on Postgres alone."""
    assert asyncio.run(_kill_listeners(db_url)) >= 1
    with api.admin() as admin:
        key = admin.post("/v1/api-keys", json={"name": unique("reconn"), "plan": "cfg-plan"}).json()
    wait_until(lambda: other.inference(key["key"]) == 200, timeout=3)
    assert "catalog listener lost its connection" in other.gw.log()
