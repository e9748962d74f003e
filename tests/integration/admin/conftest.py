"""A real gateway per storage backend (SQLite, Postgres) for the management API tests.

Every response that passes through `Admin` clients is recorded, and every secret the tests send or
receive is registered with `watch`; when the gateway stops, its log must contain none of them and
no response may echo one, apart from the single create/rotate response that returns a new key.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.db_backends import BACKENDS, database_url
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import ADMIN_KEY, API_KEY, GatewayProcess, start_gateway

ALLOWED_HOSTS = "127.0.0.1,localhost,*.example.com"
CONFIG_KEY = API_KEY
"""The inference key applied from the config file (plan cfg-plan)."""


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def admin_config() -> dict[str, Any]:
    return {
        "providers": [{"name": "cfg-demo", "kind": "demo", "models": [{"id": "echo"}]}],
        "routes": [{"name": "route/cfg", "targets": [{"provider": "cfg-demo", "model": "echo"}]}],
        "plans": [{"name": "cfg-plan", "models": ["*"]}],
        "api_keys": [{"name": "cfg-key", "key": CONFIG_KEY, "plan": "cfg-plan"}],
    }


@dataclass
class SecretWatch:
    """Secrets that must never leave the gateway except in the one response that creates them."""

    secrets: set[str] = field(default_factory=set)
    created: set[str] = field(default_factory=set)
    """Key secrets from create/rotate responses: each may appear in exactly that one response."""
    responses: list[tuple[str, str]] = field(default_factory=list)

    def add(self, *values: str) -> None:
        self.secrets.update(v for v in values if v)

    def record(self, response: httpx.Response) -> None:
        response.read()
        label = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
        self.responses.append((label, json.dumps(dict(response.headers)) + response.text))
        if response.request.method == "POST" and response.status_code in (200, 201):
            path = response.request.url.path
            if path.startswith("/v1/api-keys") and (path.endswith("/rotate") or path.rstrip("/") == "/v1/api-keys"):
                key = response.json().get("key", "")
                self.add(key)
                self.created.add(key)

    def leaks(self, log: str) -> list[str]:
        found = [f"gateway log contains {s[:6]}..." for s in self.secrets if s in log]
        for secret in self.secrets:
            echoed = [label for label, text in self.responses if secret in text]
            allowed = 1 if secret in self.created else 0
            if len(echoed) > allowed:
                found.append(f"{secret[:6]}... appears in {echoed}")
        return found


class Admin:
    """httpx clients against one gateway, every response recorded for the secret check."""

    def __init__(self, gw: GatewayProcess, watch: SecretWatch) -> None:
        self.gw = gw
        self.watch = watch

    def client(self, token: str | None = None, **headers: str) -> httpx.Client:
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(
            base_url=self.gw.base_url, timeout=30, headers=headers, event_hooks={"response": [self.watch.record]}
        )

    def admin(self) -> httpx.Client:
        return self.client(self.gw.admin_key)

    def user(self, plan: str = "cfg-plan", role: str = "user") -> tuple[dict[str, Any], httpx.Client]:
        """A fresh account (its `password` added to the returned dict) and a client carrying its JWT."""
        password = "pw-" + secrets.token_hex(8)
        self.watch.add(password)
        with self.admin() as admin:
            created = admin.post(
                "/v1/users", json={"username": unique(role), "password": password, "role": role, "plan": plan}
            )
            assert created.status_code == 201, created.text
        user = {**created.json(), "password": password}
        return user, self.client(self.token(user["username"], password))

    def token(self, username: str, password: str) -> str:
        with self.client() as anon:
            resp = anon.post("/v1/auth/token", json={"username": username, "password": password})
        assert resp.status_code == 200, resp.text
        token: str = resp.json()["access_token"]
        return token

    def inference(self, key: str) -> int:
        """Status of one tiny chat completion with `key`."""
        with self.client(key) as client:
            resp = client.post(
                "/v1/chat/completions", json={"model": "cfg-demo/echo", "messages": [{"role": "user", "content": "hi"}]}
            )
        return resp.status_code


def wait_until(check: Callable[[], bool], timeout: float = 2.0, interval: float = 0.05) -> float:
    """Seconds until `check()` held; fails the test after `timeout`."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(interval)
    return time.monotonic() - start


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def db_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with database_url(backend, tmp_path_factory.mktemp(f"db-{backend}")) as url:
        yield url


@pytest.fixture(scope="session")
def watch() -> SecretWatch:
    found = SecretWatch()
    found.add(CONFIG_KEY, ADMIN_KEY)
    return found


@pytest.fixture(scope="session")
def gw(db_url: str, tmp_path_factory: pytest.TempPathFactory, watch: SecretWatch) -> Iterator[GatewayProcess]:
    process = start_gateway(
        tmp_path_factory.mktemp("admin-gw"),
        admin_config(),
        env={"POLYROUTE_ALLOWED_UPSTREAM_HOSTS": ALLOWED_HOSTS},
        database_url=db_url,
    )
    yield process
    process.stop()
    leaks = watch.leaks(process.log())
    assert not leaks, "secrets escaped: " + "; ".join(leaks)


@pytest.fixture
def api(gw: GatewayProcess, watch: SecretWatch) -> Admin:
    return Admin(gw, watch)


@pytest.fixture
def admin(api: Admin) -> Iterator[httpx.Client]:
    with api.admin() as client:
        yield client


def config_path(gw: GatewayProcess) -> Path:
    return gw.data_dir.parent / "polyroute.yaml"


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()
