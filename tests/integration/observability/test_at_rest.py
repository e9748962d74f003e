"""Provider credentials at rest, read from the raw database row on SQLite and Postgres: Fernet
ciphertext under the data directory's private key, never the plaintext, and still the key the
upstream receives. (At-rest storage is the subject here, so this test reads the tables directly.)"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.db_backends import gateway_on
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY, GatewayProcess
from tests.integration.usage.harness import fetch

UPSTREAM_SECRET = "sk-upstream-at-rest-0123456789abcdef"


@pytest.fixture(scope="module")
def gw(backend: str, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI) -> Iterator[GatewayProcess]:
    config = {
        "providers": [
            {
                "name": "fakeai",
                "kind": "openai",
                "base_url": fake_openai.base_url + "/v1",
                "api_key": UPSTREAM_SECRET,
                "probe_interval_s": 0,
                "models": [{"id": "gpt-fake"}],
            }
        ],
        "plans": [{"name": "internal", "models": ["*"]}],
        "api_keys": [{"name": "test", "key": API_KEY, "plan": "internal"}],
    }
    tmp = tmp_path_factory.mktemp("atrest")
    with gateway_on(backend, tmp, config, env={"POLYROUTE_PROBES_ENABLED": "false"}) as gateway:
        yield gateway


def _everything_stored(url: str) -> str:
    """Every row of every table, as text: on SQLite the database file and its WAL, on Postgres each row cast to text."""
    if url.startswith("sqlite:///"):
        db = Path(url.removeprefix("sqlite:///"))
        files = [p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists()]
        return b"".join(files).decode("latin-1")
    tables = fetch(url, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    assert tables, "no tables found"
    return "\n".join(
        str(row["t"]) for table in tables for row in fetch(url, f'SELECT t::text AS t FROM "{table["tablename"]}" t')
    )


def test_provider_key_is_ciphertext_in_the_raw_row(gw: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    body = {"model": "fakeai/gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
    resp = httpx.post(gw.v1 + "/chat/completions", json=body, headers={"authorization": f"Bearer {API_KEY}"})
    assert resp.status_code == 200
    assert fake_openai.received[-1].headers["Authorization"] == f"Bearer {UPSTREAM_SECRET}"

    [row] = fetch(gw.database_url, "SELECT * FROM provider_config WHERE name = 'fakeai'")
    assert UPSTREAM_SECRET not in repr(row)
    stored = _everything_stored(gw.database_url)
    assert "sk-...cdef" in stored  # the dump does see the provider row...
    assert UPSTREAM_SECRET not in stored  # ...and the secret is nowhere in the database (nor SQLite's WAL)
    assert row["api_key_hint"] == "sk-...cdef"

    key_file = gw.data_dir / "polyroute.secret"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # readable by the server's user only
    assert Fernet(key_file.read_bytes().strip()).decrypt(row["api_key_enc"].encode()).decode() == UPSTREAM_SECRET
