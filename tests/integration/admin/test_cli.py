"""`polyroute migrate`, `polyroute keys ...` and `polyroute admin create-user` against both databases."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.db_backends import database_url
from tests.gateway_process import ROOT, GatewayProcess
from tests.integration.admin.conftest import Admin, unique, wait_until

TABLES = {"provider_config", "route", "plan", "api_key", "app_user", "catalog_state", "usage_event", "usage_daily"}


def polyroute(db_url: str, data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "POLYROUTE_DATABASE_URL": db_url,
        "POLYROUTE_DATA_DIR": str(data_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=env,
        input=stdin or "",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _postgres_tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        return {r["table_name"] for r in rows}
    finally:
        await conn.close()


def tables(url: str) -> set[str]:
    if url.startswith("sqlite"):
        with sqlite3.connect(url[len("sqlite:///") :]) as conn:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return asyncio.run(_postgres_tables(url))


def test_migrate_creates_the_schema_and_is_idempotent(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        first = polyroute(url, tmp_path, "migrate")
        assert first.returncode == 0, first.stderr + first.stdout
        assert tables(url) >= TABLES
        again = polyroute(url, tmp_path, "migrate")
        assert again.returncode == 0
        shipped = len(list((Path(__file__).parents[3] / "migrations").glob("polyroute_*.py")))
        assert first.stdout.strip().startswith(f"polyroute: applied {shipped} migrations: 2026-11-22T02:07:55")
        assert again.stdout.strip() == "polyroute: the database schema is up to date"
        if backend == "sqlite":  # readers never wait on a usage write; one fsync per commit
            with sqlite3.connect(url[len("sqlite:///") :]) as conn:
                assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_keys_cli_round_trip(api: Admin, gw: GatewayProcess) -> None:
    name = unique("cli")
    created = polyroute(
        gw.database_url, gw.data_dir, "keys", "create", "--name", name, "--plan", "cfg-plan", "--expires-in-days", "7"
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    api.watch.add(secret)
    assert secret.startswith("sk-poly-")
    assert "\n" not in secret
    assert "shown only now" in created.stderr
    wait_until(lambda: api.inference(secret) == 200, timeout=2)
    listed = polyroute(gw.database_url, gw.data_dir, "keys", "list")
    assert listed.returncode == 0
    assert name in listed.stdout
    assert secret not in listed.stdout
    as_json = json.loads(polyroute(gw.database_url, gw.data_dir, "keys", "list", "--json").stdout)
    key = next(k for k in as_json if k["name"] == name)
    assert key["plan"] == "cfg-plan"
    assert key["expires_at"]
    assert "key" not in key
    revoked = polyroute(gw.database_url, gw.data_dir, "keys", "revoke", key["id"])
    assert revoked.returncode == 0, revoked.stderr
    wait_until(lambda: api.inference(secret) == 401, timeout=2)
    with api.admin() as admin:
        logged = admin.get("/v1/audit", params={"resource_id": key["id"]}).json()["data"]
    assert [(e["action"], e["actor"]["name"], e["actor"]["via"]) for e in logged] == [
        ("revoke", "cli", "cli"),
        ("create", "cli", "cli"),
    ]


def test_keys_cli_creates_a_key_in_a_team(api: Admin, gw: GatewayProcess) -> None:
    team = unique("cli-team")
    with api.admin() as admin:
        assert admin.post("/v1/teams", json={"name": team, "plan": "cfg-plan"}).status_code == 201
    created = polyroute(gw.database_url, gw.data_dir, "keys", "create", "--name", unique("cli"), "--team", team)
    assert created.returncode == 0, created.stderr
    api.watch.add(created.stdout.strip())
    assert f"on plan cfg-plan in team {team}" in created.stderr
    unknown = polyroute(gw.database_url, gw.data_dir, "keys", "create", "--name", "x", "--team", "no-such-team")
    assert unknown.returncode == 1 and "unknown team 'no-such-team'" in unknown.stderr


def test_keys_cli_errors(gw: GatewayProcess) -> None:
    unknown = polyroute(gw.database_url, gw.data_dir, "keys", "create", "--name", "x", "--plan", "no-such-plan")
    assert unknown.returncode == 1
    assert "unknown plan 'no-such-plan'" in unknown.stderr
    assert not unknown.stdout
    bad_days = polyroute(gw.database_url, gw.data_dir, "keys", "create", "--name", "x", "--expires-in-days", "0")
    assert bad_days.returncode == 2
    assert "expires_in_days" in bad_days.stderr
    missing = polyroute(gw.database_url, gw.data_dir, "keys", "revoke", "key_missing")
    assert missing.returncode == 1
    assert "No API key" in missing.stderr


@pytest.mark.parametrize("via", ["flag", "stdin"])
def test_create_user_cli(api: Admin, gw: GatewayProcess, via: str) -> None:
    name, password = unique("cliuser"), "pw-" + unique("cli")
    api.watch.add(password)
    args = ["admin", "create-user", name, "--role", "user", "--plan", "cfg-plan"]
    if via == "flag":
        result = polyroute(gw.database_url, gw.data_dir, *args, "--password", password)
    else:
        result = polyroute(gw.database_url, gw.data_dir, *args, stdin=password + "\n")
    assert result.returncode == 0, result.stderr
    assert name in result.stdout
    assert password not in result.stdout + result.stderr
    with api.client(api.token(name, password)) as client:
        assert client.get("/v1/auth/me").json()["role"] == "user"
    no_plan = polyroute(
        gw.database_url, gw.data_dir, "admin", "create-user", unique("np"), "--role", "user", "--password", password
    )
    assert no_plan.returncode == 1
    assert "required for role 'user'" in no_plan.stderr
    taken = polyroute(gw.database_url, gw.data_dir, "admin", "create-user", name, "--password", password)
    assert taken.returncode == 1
    assert "already exists" in taken.stderr
