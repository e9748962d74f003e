"""Prompt templates in the config file: created at the first start, left alone when unchanged, a new
published version when changed, and published again when someone published another through the API.
SQLite and Postgres."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.db_backends import BACKENDS, database_url
from tests.gateway_process import API_KEY, GatewayProcess, start_gateway

GREET = {
    "name": "greet",
    "model": "demo/echo",
    "messages": [{"role": "user", "content": "Hello {{who}}, from the file"}],
    "variables": {"who": "world"},
    "description": "kept in git",
}
CONFIG: dict[str, Any] = {
    "providers": [{"name": "demo", "kind": "demo", "models": [{"id": "echo"}]}],
    "api_keys": [{"name": "prompts", "key": API_KEY}],
    "prompts": [GREET],
}


def _said(gw: GatewayProcess) -> tuple[str, str]:
    raw = gw.openai().chat.completions.with_raw_response.create(model="prompt/greet", messages=[])
    return raw.headers["x-polyroute-prompt"], raw.parse().choices[0].message.content or ""


def _state(gw: GatewayProcess) -> tuple[int, int]:
    body = gw.admin().get("/v1/prompts/greet").json()
    return body["published"], body["latest"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_files_prompts_are_published_and_follow_the_file(backend: str, tmp_path: Path) -> None:
    changed = copy.deepcopy(CONFIG)
    changed["prompts"][0]["messages"][0]["content"] = "Hi {{who}}, from the edited file"
    with database_url(backend, tmp_path / "db") as url:
        for config, expected_state, expected in (
            (CONFIG, (1, 1), ("greet@1", "Echo: Hello world, from the file")),
            (CONFIG, (1, 1), ("greet@1", "Echo: Hello world, from the file")),  # unchanged: no new version
            (changed, (2, 2), ("greet@2", "Echo: Hi world, from the edited file")),
        ):
            gw = start_gateway(tmp_path / "gw", config, database_url=url)
            try:
                assert _state(gw) == expected_state
                assert _said(gw) == expected
                if config is changed:  # someone rolls back through the API...
                    assert gw.admin().post("/v1/prompts/greet/publish", json={"version": 1}).status_code == 200
            finally:
                gw.stop()
        gw = start_gateway(tmp_path / "gw", changed, database_url=url)  # ...and the file publishes its own again
        try:
            assert _state(gw) == (2, 2)
            audit = gw.admin().get("/v1/audit", params={"resource": "prompt", "actor": "config file"}).json()["data"]
            assert len(audit) == 3  # created, new version, published again: the unchanged start wrote nothing
        finally:
            gw.stop()
