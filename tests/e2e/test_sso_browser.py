"""Single sign-on in a real browser: the link on the sign-in page, the round trip through the
provider (a fake OpenID Connect server on another port) and back, signed in as the admin it names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Shots, e2e_config
from tests.e2e.test_admin_ui import page  # noqa: F401 - the shared browser page fixture
from tests.fakes.oidc import CLIENT_ID, CLIENT_SECRET, FakeOidc
from tests.gateway_process import GatewayProcess, start_gateway

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, FakeOidc]]:
    with FakeOidc() as idp:
        env = {
            "POLYROUTE_OIDC_ISSUER": idp.issuer,
            "POLYROUTE_OIDC_CLIENT_ID": CLIENT_ID,
            "POLYROUTE_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "POLYROUTE_OIDC_ADMIN_GROUPS": "ops",
        }
        gw = start_gateway(Path(tmp_path_factory.mktemp("e2e-sso")), e2e_config(), env=env)
        try:
            yield gw, idp
        finally:
            gw.stop()


def test_an_admin_signs_in_through_the_provider_and_lands_where_they_were_going(
    page: Any,  # noqa: F811
    sso: tuple[GatewayProcess, FakeOidc],
    shots: Shots,
) -> None:
    gw, idp = sso
    idp.user = {"sub": "ops-1", "email": "olga@corp.example", "email_verified": True, "groups": ["ops"]}
    page.goto(gw.base_url + "/ui/audit")  # signed out: sent to the sign-in page, which remembers the way
    page.wait_for_url(lambda url: "/ui/login" in url)
    shots(page, "sso-login")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.wait_for_url(lambda url: url.rstrip("/").endswith("/ui/audit"))
    assert page.locator(".who-name").inner_text() == "olga@corp.example"
    assert page.get_by_role("cell", name="olga@corp.example user").count() == 1
    shots(page, "sso-signed-in-audit")
