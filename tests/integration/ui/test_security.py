"""Admin UI security against the real server: sessions, CSRF on every mutating route, CSP, roles."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from tests.gateway_process import ADMIN_KEY
from tests.integration.ui.conftest import USER_PASSWORD, UIClient, UIGateway, ui_client

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
ADMIN_PAGES = [
    "/ui/dashboard",
    "/ui/dashboard?window=hour",
    "/ui/dashboard?window=week",
    "/ui/providers",
    "/ui/providers/new",
    "/ui/providers/upstream/edit",
    "/ui/routes",
    "/ui/routes/new",
    "/ui/routes/edit/route/ui",
    "/ui/plans",
    "/ui/plans/new",
    "/ui/plans/free/edit",
    "/ui/teams",
    "/ui/teams/new",
    "/ui/teams/ui-team/edit",
    "/ui/prompts",
    "/ui/prompts/new",
    "/ui/prompts/ui-prompt",
    "/ui/prompts/ui-prompt?version=2",
    "/ui/tasks",
    "/ui/alerts",
    "/ui/audit",
]
SHARED_PAGES = [
    "/ui/keys",
    "/ui/keys/new",
    "/ui/usage",
    "/ui/usage?group_by=model&group_by=provider",
    "/ui/requests",
    "/ui/models",
    "/ui/models?capability=tools",
    "/ui/playground",
]
TEAM = "ui-team"
PROMPT = "ui-prompt"
_PARAMS = {"{name:str}": "nope", "{name:path}": "route/nope", "{key_id:str}": "key_nope"}


@pytest.fixture
def ui_team(ui_gateway: UIGateway) -> str:
    """A team with a member, so its edit page (settings and members) is among the pages checked."""
    with ui_gateway.gw.admin() as api:
        made = api.post("/v1/teams", json={"name": TEAM, "plan": "free", "limits": {"rpm": 10}})
        assert made.status_code in (200, 201, 409), made.text  # the gateway is shared by the package's modules
        joined = api.put(f"/v1/teams/{TEAM}/members/user2", json={"role": "member"})
        assert joined.status_code == 200, joined.text
    return TEAM


@pytest.fixture
def ui_prompt(ui_gateway: UIGateway) -> str:
    """A prompt with an unpublished second version, so its page shows a version to publish and the render box."""
    with ui_gateway.gw.admin() as api:
        body = {"model": "route/ui", "messages": [{"role": "system", "content": "Help with {{topic}}."}]}
        made = api.post("/v1/prompts", json={"name": PROMPT, **body})
        assert made.status_code in (200, 201, 409), made.text  # the gateway is shared by the package's modules
        if made.status_code != 409:
            added = api.put(f"/v1/prompts/{PROMPT}", json={**body, "variables": {"topic": "x"}, "publish": False})
            assert added.status_code == 200, added.text
    return PROMPT


def mutating_ui_paths(tmp: Path) -> list[str]:
    """Every POST route under /ui, read from the application's own route table (so new ones are covered)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # import-time deprecations elsewhere in the app are not this test's subject
        from app.main import create_app
        from app.settings import Settings

        app = create_app(Settings(database_url=f"sqlite:///{tmp}/routes.db", data_dir=str(tmp), admin_key=ADMIN_KEY))
    paths = []
    for route in app.routes:
        if route.path.startswith("/ui") and "POST" in route.methods and route.path != "/ui/login":
            path = route.path
            for param, value in _PARAMS.items():
                path = path.replace(param, value)
            assert "{" not in path, f"add a sample value for the parameter in {route.path}"
            paths.append(path)
    return sorted(paths)


def test_session_cookie_is_httponly_lax_and_secure_behind_tls(ui_gateway: UIGateway) -> None:
    client = ui_client(ui_gateway.gw)
    response = client.login("user1", USER_PASSWORD)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "polyroute_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie, "plain http: a Secure cookie would never come back"
    tls = ui_client(ui_gateway.gw)
    tls.http.headers["X-Forwarded-Proto"] = "https"
    page = tls.get("/ui/login")
    token = re.search(r'name="_csrf" value="([^"]+)"', page.text)
    assert token is not None and "Secure" in page.headers["set-cookie"]
    form = {"username": "user1", "password": USER_PASSWORD, "_csrf": token.group(1)}
    echoed = {"Cookie": f"polyroute_login_csrf={token.group(1)}"}  # httpx keeps Secure cookies off plain http
    signed_in = tls.http.post("/ui/login", data=form, headers=echoed)
    assert signed_in.status_code == 303
    assert "Secure" in signed_in.headers["set-cookie"]
    client.close()
    tls.close()


def test_bad_password_and_missing_login_token(ui_gateway: UIGateway) -> None:
    client = ui_client(ui_gateway.gw)
    wrong = client.login("user1", "not-the-password")
    assert wrong.status_code == 401
    assert "Invalid username or password" in wrong.text and "polyroute_session=" not in wrong.headers.get(
        "set-cookie", ""
    )
    forged = client.http.post("/ui/login", data={"username": "user1", "password": USER_PASSWORD})
    assert forged.status_code == 403
    assert client.get("/ui/keys").status_code == 303
    client.close()


def test_admin_key_login_gives_an_admin_session(ui_gateway: UIGateway) -> None:
    client = ui_client(ui_gateway.gw)
    assert client.login(admin_key="not-the-admin-key-at-all").status_code == 401
    assert client.login(admin_key=ADMIN_KEY).status_code == 303
    dashboard = client.get("/ui/dashboard")
    assert dashboard.status_code == 200 and "admin key" in dashboard.text
    assert ADMIN_KEY not in dashboard.text and ADMIN_KEY not in dashboard.headers.get("set-cookie", "")
    client.close()


def test_every_mutating_route_refuses_a_missing_or_wrong_csrf_token(
    admin_ui: UIClient, tmp_path: Path, ui_gateway: UIGateway
) -> None:
    paths = mutating_ui_paths(tmp_path)
    assert {"/ui/providers", "/ui/keys", "/ui/logout", "/ui/playground/chat"} <= set(paths)
    for path in paths:
        missing = admin_ui.post(path, {"name": "x"}, token="")
        assert missing.status_code == 403, f"{path} without a token: {missing.status_code}"
        wrong = admin_ui.post(path, {"name": "x"}, token="forged-token")
        assert wrong.status_code == 403, f"{path} with a wrong token: {wrong.status_code}"
        header = admin_ui.http.post(path, json={}, headers={"X-CSRF-Token": "forged", "HX-Request": "true"})
        assert header.status_code == 403, f"{path} with a wrong header token: {header.status_code}"
    created = admin_ui.post(
        "/ui/providers", {"name": "csrf-probe", "kind": "demo", "enabled": "on", "models.a.id": "echo"}, token=""
    )
    assert created.status_code == 403
    with ui_gateway.gw.admin() as api:
        assert api.get("/v1/configs/csrf-probe").status_code == 404, "a refused post must change nothing"
    control = admin_ui.post("/ui/routes/_preview", {"targets.a.provider": "demo", "targets.a.model": "echo"})
    assert control.status_code == 200, "the right token is accepted"


@pytest.mark.parametrize("who", ["admin", "user", "anonymous"])
def test_every_ui_response_carries_the_csp_and_no_inline_code(
    who: str, admin_ui: UIClient, user_ui: UIClient, ui_gateway: UIGateway, ui_team: str, ui_prompt: str
) -> None:
    if who == "anonymous":
        client = ui_client(ui_gateway.gw)
        pages = ["/ui/login", "/ui/keys", "/ui/no-such-page", "/ui/static/app.css", "/ui/static/app.js"]
    else:
        client = admin_ui if who == "admin" else user_ui
        pages = (ADMIN_PAGES if who == "admin" else [*ADMIN_PAGES[:2], "/ui/account"]) + SHARED_PAGES
    for path in pages:
        response = client.get(path)
        assert response.headers.get("content-security-policy") == CSP, path
        assert response.headers.get("x-frame-options") == "DENY", path
        if response.headers.get("content-type", "").startswith("text/html"):
            html = response.text
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"inline script in {path}"
            assert not re.search(r"\sstyle=", html) and "<style" not in html, f"inline style in {path}"
            assert not re.search(r"\son[a-z]+=", html), f"inline event handler in {path}"
            assert 'class="skip-link"' in html, f"{path} lacks the skip link"
    if who == "anonymous":
        client.close()


def test_users_are_refused_admin_pages(user_ui: UIClient) -> None:
    for path in ADMIN_PAGES:
        response = user_ui.get(path)
        assert response.status_code == 403, path
        assert "Not allowed" in response.text and "This page is for administrators" in response.text
    assert user_ui.post("/ui/plans", {"name": "sneaky"}).status_code == 403
    assert user_ui.post("/ui/teams", {"name": "sneaky"}).status_code == 403
    assert user_ui.post("/ui/prompts", {"name": "sneaky"}).status_code == 403
    assert user_ui.post(f"/ui/prompts/{PROMPT}/publish", {"version": "1"}).status_code == 403
    assert user_ui.post(f"/ui/teams/{TEAM}/members", {"user": "user1", "role": "admin"}).status_code == 403


def test_users_see_and_touch_only_their_own_keys(user_ui: UIClient, other_ui: UIClient) -> None:
    created = user_ui.post("/ui/keys", {"name": "user1-private-key"})
    assert created.status_code == 200 and "user1-private-key" in created.text
    key_id = re.search(r'action="/ui/keys/([^/"]+)/rotate"', user_ui.get("/ui/keys").text)
    assert key_id is not None
    assert "user1-private-key" not in other_ui.get("/ui/keys").text
    assert "user1-private-key" not in other_ui.get("/ui/usage?group_by=key").text
    assert other_ui.post(f"/ui/keys/{key_id.group(1)}/revoke").status_code == 404
    assert other_ui.post(f"/ui/keys/{key_id.group(1)}/rotate").status_code == 404
    assert other_ui.post(f"/ui/keys/{key_id.group(1)}/rename", {"name": "hijacked"}).status_code == 404
    renamed = user_ui.post(f"/ui/keys/{key_id.group(1)}/rename", {"name": "  user1-renamed  "})
    assert renamed.status_code == 303
    listing = user_ui.get("/ui/keys").text
    assert "user1-renamed" in listing and "Key renamed to &#39;user1-renamed&#39;" in listing
    assert user_ui.post(f"/ui/keys/{key_id.group(1)}/rename", {"name": " "}).status_code == 303
    assert "must be 1 to 200 characters" in user_ui.get("/ui/keys").text and "hijacked" not in listing
    limited = user_ui.post("/ui/keys", {"name": "greedy", "daily_requests": "5000"})
    assert limited.status_code == 403 and "above your plan" in limited.text


def test_logout_ends_the_session(ui_gateway: UIGateway) -> None:
    client = ui_client(ui_gateway.gw)
    assert client.login("user1", USER_PASSWORD).status_code == 303
    out = client.post("/ui/logout")
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert client.get("/ui/keys").status_code == 303
    client.close()
