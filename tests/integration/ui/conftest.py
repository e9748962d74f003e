"""A real gateway for the admin UI's server-side tests, and a cookie-keeping client that signs in like a browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.db_backends import BACKENDS, gateway_on
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import ADMIN_KEY, API_KEY, GatewayProcess

UPSTREAM_SECRET = "sk-upstream-ui-test-secret-4f9a8b7c6d5e"
ADMIN_PASSWORD = "admin-password-1234"
USER_PASSWORD = "user-password-5678"
OTHER_PASSWORD = "other-password-9012"

_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_LOGIN_TOKEN = re.compile(r'name="_csrf" value="([^"]+)"')


def ui_config(fake: FakeOpenAI) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "demo", "kind": "demo", "models": [{"id": "echo"}]},
            {
                "name": "upstream",
                "kind": "openai",
                "base_url": fake.base_url + "/v1",
                "api_key": UPSTREAM_SECRET,
                "models": [{"id": "gpt-fake", "input_cost_per_mtok": 1.0, "output_cost_per_mtok": 2.0}],
            },
        ],
        "routes": [{"name": "route/ui", "targets": [{"provider": "upstream", "model": "gpt-fake"}]}],
        "plans": [
            {"name": "free", "models": ["route/*", "demo/*"], "daily_requests": 50},
            {"name": "internal", "models": ["*"]},
        ],
        "api_keys": [{"name": "config-key", "key": API_KEY, "plan": "internal"}],
    }


@dataclass
class UIClient:
    """An httpx client with a cookie jar, signed in through the login form; records every response."""

    gw: GatewayProcess
    http: httpx.Client
    csrf: str = ""
    seen: list[tuple[str, httpx.Response]] = field(default_factory=list)

    def _record(self, label: str, response: httpx.Response) -> httpx.Response:
        self.seen.append((label, response))
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._record(f"GET {path}", self.http.get(path, **kwargs))

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """A form post carrying the session's CSRF token unless `token` says otherwise ('' = none)."""
        form = dict(data or {})
        chosen = self.csrf if token is None else token
        if chosen:
            form["_csrf"] = chosen
        return self._record(f"POST {path}", self.http.post(path, data=form, **kwargs))

    def login(self, username: str = "", password: str = "", admin_key: str = "") -> httpx.Response:
        page = self.get("/ui/login")
        token = _LOGIN_TOKEN.search(page.text)
        assert token, page.text
        form = {"username": username, "password": password, "admin_key": admin_key, "_csrf": token.group(1)}
        response = self._record("POST /ui/login", self.http.post("/ui/login", data=form))
        if response.status_code == 303:
            meta = _CSRF_META.search(self.get("/ui/models").text)
            assert meta, "signed-in pages carry the CSRF token"
            self.csrf = meta.group(1)
        return response

    def close(self) -> None:
        self.http.close()


def page_text(html: str) -> str:
    """A page's words as a reader sees them: tags dropped, entities decoded, spaces collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def ui_client(gw: GatewayProcess) -> UIClient:
    return UIClient(gw, httpx.Client(base_url=gw.base_url, timeout=30, follow_redirects=False))


@dataclass
class UIGateway:
    gw: GatewayProcess
    fake: FakeOpenAI
    user_ids: dict[str, str]


@pytest.fixture(scope="package", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """One UI gateway per database, shared by the package's modules."""
    return str(request.param)


@pytest.fixture(scope="package")
def ui_gateway(backend: str, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI) -> Iterator[UIGateway]:
    with gateway_on(backend, Path(tmp_path_factory.mktemp("ui")), ui_config(fake_openai)) as gw:
        yield _with_users(gw, fake_openai)


def _with_users(gw: GatewayProcess, fake_openai: FakeOpenAI) -> UIGateway:
    ids: dict[str, str] = {}
    with gw.admin() as admin:
        for name, password, role, plan in (
            ("admin1", ADMIN_PASSWORD, "admin", None),
            ("user1", USER_PASSWORD, "user", "free"),
            ("user2", OTHER_PASSWORD, "user", "free"),
        ):
            created = admin.post("/v1/users", json={"username": name, "password": password, "role": role, "plan": plan})
            assert created.status_code in (200, 201), created.text
            ids[name] = created.json()["id"]
    return UIGateway(gw, fake_openai, ids)


@pytest.fixture
def admin_ui(ui_gateway: UIGateway) -> Iterator[UIClient]:
    client = ui_client(ui_gateway.gw)
    assert client.login("admin1", ADMIN_PASSWORD).status_code == 303
    yield client
    client.close()


@pytest.fixture
def user_ui(ui_gateway: UIGateway) -> Iterator[UIClient]:
    client = ui_client(ui_gateway.gw)
    assert client.login("user1", USER_PASSWORD).status_code == 303
    yield client
    client.close()


@pytest.fixture
def other_ui(ui_gateway: UIGateway) -> Iterator[UIClient]:
    client = ui_client(ui_gateway.gw)
    assert client.login("user2", OTHER_PASSWORD).status_code == 303
    yield client
    client.close()


SECRETS_NEVER_SHOWN = (UPSTREAM_SECRET, ADMIN_KEY, API_KEY, ADMIN_PASSWORD, USER_PASSWORD, OTHER_PASSWORD)
