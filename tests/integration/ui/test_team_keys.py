"""A team through its members' eyes in the UI: a member makes a key in the team from the key form, the
team's admin sees it on their key page and revokes it, and a stranger sees neither the team nor the key."""

from __future__ import annotations

import re
import secrets

from tests.integration.ui.conftest import UIClient, UIGateway, page_text, ui_client
from tests.integration.usage.harness import wait_until


def _user(ui_gateway: UIGateway, name: str) -> tuple[str, UIClient]:
    password = "pw-" + secrets.token_hex(8)
    with ui_gateway.gw.admin() as admin:
        made = admin.post("/v1/users", json={"username": name, "password": password, "role": "user", "plan": "free"})
        assert made.status_code == 201, made.text
    client = ui_client(ui_gateway.gw)
    assert client.login(name, password).status_code == 303
    return made.json()["id"], client


def test_a_member_makes_a_team_key_and_the_team_admin_revokes_it(ui_gateway: UIGateway) -> None:
    suffix = secrets.token_hex(3)
    team = f"squad-{suffix}"
    _, lead = _user(ui_gateway, f"lead-{suffix}")
    _, dev = _user(ui_gateway, f"dev-{suffix}")
    _, stranger = _user(ui_gateway, f"stranger-{suffix}")
    with ui_gateway.gw.admin() as admin:
        made = admin.post("/v1/teams", json={"name": team, "plan": "internal"})
        assert made.status_code == 201, made.text
        for who, role in ((f"lead-{suffix}", "admin"), (f"dev-{suffix}", "member")):
            assert admin.put(f"/v1/teams/{team}/members/{who}", json={"role": role}).status_code == 200
    team_id = made.json()["id"]
    try:
        form = dev.get("/ui/keys/new").text
        assert f'value="{team_id}"' in form and f"{team} (plan internal)" in form
        assert team not in stranger.get("/ui/keys/new").text
        created = dev.post("/ui/keys", {"name": f"dev-key-{suffix}", "team": team_id})
        assert created.status_code == 200, created.text
        secret = re.search(r"sk-poly-[A-Za-z0-9_-]{20,}", created.text)
        assert secret is not None
        chat = {"model": "route/ui", "messages": [{"role": "user", "content": "hi"}]}
        with ui_gateway.gw.http(headers={"Authorization": f"Bearer {secret.group(0)}"}) as http:
            assert http.post("/v1/chat/completions", json=chat).status_code == 200

        def team_usage() -> str:
            return page_text(lead.get(f"/ui/usage?from=2000-01-01&team={team}&group_by=team&group_by=key").text)

        wait_until(lambda: "Widen the dates" not in team_usage())  # the usage row is written a moment later
        shown = team_usage()
        assert team in shown.split("Widen")[0] and f"dev-key-{suffix}" in shown  # the lead reads it by key name
        assert "Widen the dates" in page_text(lead.get("/ui/usage?from=2000-01-01&team=no-such-team").text)
        refused = stranger.post("/ui/keys", {"name": "sneaky", "team": team_id})
        assert refused.status_code == 403 and "not a member" in refused.text

        listing = lead.get("/ui/keys").text
        assert f"dev-key-{suffix}" in listing and f"team {team}" in listing
        assert f"dev-key-{suffix}" not in stranger.get("/ui/keys").text
        key_id = re.search(r'action="/ui/keys/([^/"]+)/revoke"', listing)
        assert key_id is not None
        assert stranger.post(f"/ui/keys/{key_id.group(1)}/revoke").status_code == 404
        assert lead.post(f"/ui/keys/{key_id.group(1)}/revoke").status_code == 303
        with ui_gateway.gw.admin() as admin:
            key = admin.get(f"/v1/api-keys/{key_id.group(1)}").json()
        assert key["revoked_at"] is not None and key["plan"] == "internal" and key["team_id"] == team_id
    finally:
        for client in (lead, dev, stranger):
            client.close()
