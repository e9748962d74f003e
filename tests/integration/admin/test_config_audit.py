"""The config file applied at start is in the audit log as `config file`: what it created, and on a
restart only what the file changed (the same file again leaves no trace). SQLite and Postgres."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.db_backends import BACKENDS, database_url
from tests.gateway_process import API_KEY, GatewayProcess, start_gateway

CONFIG: dict[str, Any] = {
    "providers": [
        {
            "name": "filed",
            "kind": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "api_key": "sk-filed-credential-0123456789",
            "headers": {"X-Team": "search"},
            "models": [{"id": "gpt-a", "input_cost_per_mtok": 0.4}],
        }
    ],
    "routes": [{"name": "route/filed", "targets": [{"provider": "filed", "model": "gpt-a"}]}],
    "plans": [{"name": "filed-plan", "rpm": 5}],
    "api_keys": [{"name": "filed-key", "key": API_KEY, "plan": "filed-plan"}],
}


def _events(gw: GatewayProcess) -> list[tuple[str, str, str]]:
    data = gw.admin().get("/v1/audit", params={"actor": "config file", "limit": 100}).json()["data"]
    return [(e["action"], e["resource"], e["resource_name"]) for e in data]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_config_file_is_audited_once_and_then_only_its_changes(backend: str, tmp_path: Path) -> None:
    # One data directory throughout: its secret key decrypts the stored credential to compare it.
    with database_url(backend, tmp_path / "db") as url:
        gw = start_gateway(tmp_path / "gw", CONFIG, database_url=url)
        try:
            made = _events(gw)
            assert sorted(made) == [
                ("create", "api_key", "filed-key"),
                ("create", "plan", "filed-plan"),
                ("create", "provider", "filed"),
                ("create", "route", "route/filed"),
            ]
            provider = next(e for e in gw.admin().get("/v1/audit", params={"resource": "provider"}).json()["data"])
            assert provider["actor"] == {"name": "config file", "via": "system", "user_id": None}
            assert provider["changes"]["api_key_enc"] == "(set)" and "sk-filed" not in str(provider)
        finally:
            gw.stop()
        again = start_gateway(tmp_path / "gw", CONFIG, database_url=url)
        try:
            assert _events(again) == made, "the same file again: nothing changed, nothing logged"
        finally:
            again.stop()
        changed = copy.deepcopy(CONFIG)
        changed["providers"][0]["timeout_s"] = 5
        changed["plans"][0]["rpm"] = 9
        third = start_gateway(tmp_path / "gw", changed, database_url=url)
        try:
            data = third.admin().get("/v1/audit", params={"actor": "config file", "action": "update"}).json()["data"]
            assert sorted((e["resource_name"], str(e["changes"])) for e in data) == [
                ("filed", str({"timeout_s": {"from": 60.0, "to": 5.0}})),
                ("filed-plan", str({"rpm": {"from": 5, "to": 9}})),
            ]
        finally:
            third.stop()
