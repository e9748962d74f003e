"""Single sign-on for the admin UI through a fake OpenID Connect provider: accounts made at the first
sign-in with the role the provider's groups give, and every way a sign-in must be refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.db_backends import gateway_on
from tests.fakes.oidc import CLIENT_ID, CLIENT_SECRET, FakeOidc
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess
from tests.integration.ui.conftest import UIGateway, page_text, ui_config

SESSION = "polyroute_session"


@pytest.fixture(scope="module")
def idp() -> Iterator[FakeOidc]:
    with FakeOidc() as server:
        yield server


@pytest.fixture(scope="module")
def sso_gw(
    tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI, idp: FakeOidc
) -> Iterator[GatewayProcess]:
    env = {
        "POLYROUTE_OIDC_ISSUER": idp.issuer,
        "POLYROUTE_OIDC_CLIENT_ID": CLIENT_ID,
        "POLYROUTE_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "POLYROUTE_OIDC_ADMIN_GROUPS": "platform-admins",
        "POLYROUTE_OIDC_DEFAULT_PLAN": "free",
        "POLYROUTE_OIDC_ALLOWED_DOMAINS": "corp.example",
    }
    with gateway_on("sqlite", Path(tmp_path_factory.mktemp("sso")), ui_config(fake_openai), env=env) as gw:
        yield gw


def sign_in(
    gw: GatewayProcess, idp: FakeOidc, claims: dict[str, Any], next_path: str = "/ui/"
) -> tuple[httpx.Client, httpx.Response]:
    """The browser's round trip: our start page, the provider's authorize page, our callback."""
    idp.user = claims
    client = httpx.Client(base_url=gw.base_url, follow_redirects=False, timeout=30)
    started = client.get("/ui/sso/start", params={"next": next_path})
    assert started.status_code == 303, started.text
    assert started.headers["location"].startswith(f"{idp.issuer}/authorize?")
    authorized = httpx.get(started.headers["location"], follow_redirects=False)
    assert authorized.status_code == 302, authorized.text
    return client, client.get(authorized.headers["location"])


def _users(gw: GatewayProcess) -> dict[str, dict[str, Any]]:
    return {u["username"]: u for u in gw.admin().get("/v1/users", params={"limit": 500}).json()["data"]}


def test_an_admin_group_member_gets_an_admin_account_at_the_first_sign_in(
    sso_gw: GatewayProcess, idp: FakeOidc
) -> None:
    claims = {"sub": "a1", "email": "ann@corp.example", "email_verified": True, "groups": ["platform-admins"]}
    client, done = sign_in(sso_gw, idp, claims, "/ui/audit")
    with closing(client):
        assert done.status_code == 303 and done.headers["location"] == "/ui/audit"
        assert client.cookies.get(SESSION)
        audit = client.get("/ui/audit")
        assert audit.status_code == 200, "an admin page"
        assert "sso system create ann@corp.example user" in page_text(audit.text)
    assert (_users(sso_gw)["ann@corp.example"]["role"], _users(sso_gw)["ann@corp.example"]["plan"]) == ("admin", None)


def test_others_get_a_user_account_on_the_default_plan_and_follow_the_groups(
    sso_gw: GatewayProcess, idp: FakeOidc
) -> None:
    claims = {"sub": "b1", "email": "bob@corp.example", "groups": ["engineering"]}
    client, done = sign_in(sso_gw, idp, claims)
    with closing(client):
        assert done.status_code == 303 and client.get("/ui/keys").status_code == 200
        assert client.get("/ui/dashboard").status_code == 403
    assert (_users(sso_gw)["bob@corp.example"]["role"], _users(sso_gw)["bob@corp.example"]["plan"]) == ("user", "free")
    promoted, _ = sign_in(sso_gw, idp, {**claims, "groups": ["engineering", "platform-admins"]})
    with closing(promoted):
        assert promoted.get("/ui/dashboard").status_code == 200
    demoted, _ = sign_in(sso_gw, idp, claims)
    with closing(demoted):
        assert demoted.get("/ui/dashboard").status_code == 403
    assert _users(sso_gw)["bob@corp.example"]["role"] == "user"
    roles = [
        e["changes"]["role"]
        for e in sso_gw.admin().get("/v1/audit", params={"resource": "user", "actor": "sso"}).json()["data"]
        if e["resource_name"] == "bob@corp.example"
        and "role" in e["changes"]
        and isinstance(e["changes"]["role"], dict)
    ]
    assert roles == [{"from": "admin", "to": "user"}, {"from": "user", "to": "admin"}]


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"sub": "c1", "email": "cat@elsewhere.example"}, "Accounts of elsewhere.example may not sign in here"),
        ({"sub": "c2", "email": "dan@corp.example", "email_verified": False}, "not verified this email"),
        ({"sub": "c3", "name": "no email"}, "no usable 'email' claim"),
    ],
)
def test_accounts_the_rules_do_not_allow_are_refused(
    sso_gw: GatewayProcess, idp: FakeOidc, claims: dict[str, Any], message: str
) -> None:
    client, done = sign_in(sso_gw, idp, claims)
    with closing(client):
        assert done.status_code == 403 and message in page_text(done.text)
        assert not client.cookies.get(SESSION)
    assert str(claims.get("email")) not in _users(sso_gw)


@pytest.mark.parametrize("tamper", ["aud", "iss", "expired", "nonce", "signature", "kid"])
def test_an_id_token_that_fails_a_check_signs_nobody_in(sso_gw: GatewayProcess, idp: FakeOidc, tamper: str) -> None:
    idp.tamper = tamper
    client, done = sign_in(sso_gw, idp, {"sub": f"t-{tamper}", "email": f"t-{tamper}@corp.example"})
    with closing(client):
        assert done.status_code == 403, done.text
        assert "ID token" in page_text(done.text) and not client.cookies.get(SESSION)
    assert f"t-{tamper}@corp.example" not in _users(sso_gw)


def test_a_callback_that_was_not_started_here_or_is_replayed_is_refused(sso_gw: GatewayProcess, idp: FakeOidc) -> None:
    client, done = sign_in(sso_gw, idp, {"sub": "r1", "email": "rae@corp.example"})
    callback = done.request.url
    with closing(client):
        replay = client.get(str(callback))
        assert replay.status_code == 400 and "expired or was not started here" in page_text(replay.text)
    with httpx.Client(base_url=sso_gw.base_url, follow_redirects=False) as stranger:
        assert stranger.get(str(callback)).status_code == 400, "no sign-in cookie"
        stranger.get("/ui/sso/start")
        forged = stranger.get("/ui/sso/callback", params={"code": "x", "state": "not-the-state"})
        assert forged.status_code == 400


def test_the_providers_refusal_and_a_disabled_account_are_shown(sso_gw: GatewayProcess, idp: FakeOidc) -> None:
    with httpx.Client(base_url=sso_gw.base_url, follow_redirects=False) as client:
        started = client.get("/ui/sso/start")
        state = re.search(r"state=([^&]+)", started.headers["location"])
        assert state is not None
        refused = client.get("/ui/sso/callback", params={"error": "access_denied", "state": state.group(1)})
        assert refused.status_code == 403 and "did not sign you in (access_denied)" in page_text(refused.text)
    sign_in(sso_gw, idp, {"sub": "d1", "email": "dee@corp.example"})[0].close()
    user_id = _users(sso_gw)["dee@corp.example"]["id"]
    assert sso_gw.admin().patch(f"/v1/users/{user_id}", json={"disabled": True}).status_code == 200
    client, done = sign_in(sso_gw, idp, {"sub": "d1", "email": "dee@corp.example"})
    with closing(client):
        assert done.status_code == 403 and "This account is disabled" in page_text(done.text)


def test_the_login_page_offers_single_sign_on_only_when_configured(
    sso_gw: GatewayProcess, ui_gateway: UIGateway
) -> None:
    assert 'href="/ui/sso/start?next=' in httpx.get(sso_gw.base_url + "/ui/login").text
    plain = ui_gateway.gw
    assert "/ui/sso/start" not in httpx.get(plain.base_url + "/ui/login").text
    assert httpx.get(plain.base_url + "/ui/sso/start").status_code == 404
