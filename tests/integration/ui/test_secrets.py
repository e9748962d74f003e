"""No secret in any rendered UI page: provider keys, the admin key, passwords, key secrets (except once)."""

from __future__ import annotations

import re

from tests.integration.ui.conftest import SECRETS_NEVER_SHOWN, UIClient
from tests.integration.ui.test_security import ADMIN_PAGES, SHARED_PAGES

_NEW_SECRET = re.compile(r'id="new-secret" value="([^"]+)"')
HEADER_SECRET = "hdr-secret-value-0123456789"
NEW_PROVIDER_SECRET = "sk-new-provider-secret-abcdef123456"


def _secret(response_text: str) -> str:
    found = _NEW_SECRET.search(response_text)
    assert found, "the create/rotate page shows the secret"
    return found.group(1)


def test_rendered_pages_never_show_secrets(admin_ui: UIClient, user_ui: UIClient) -> None:
    provider = {
        "name": "secretive",
        "kind": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key": NEW_PROVIDER_SECRET,
        "enabled": "on",
        "headers": f"X-Org-Token: {HEADER_SECRET}",
        "models.a.id": "m1",
    }
    assert admin_ui.post("/ui/providers", provider).status_code == 303
    edit = admin_ui.get("/ui/providers/secretive/edit")
    assert "sk-...3456" in edit.text, "the masked hint is shown"
    resaved = admin_ui.post(
        "/ui/providers/secretive", {**provider, "api_key": "", "headers": "X-Org-Token: hdr...6789"}
    )
    assert resaved.status_code == 303, resaved.text
    created = [_secret(admin_ui.post("/ui/keys", {"name": "svc", "plan": "internal"}).text)]
    created.append(_secret(user_ui.post("/ui/keys", {"name": "mine"}).text))
    key_id = re.search(r'action="/ui/keys/([^/"]+)/rotate"', user_ui.get("/ui/keys").text)
    assert key_id is not None
    created.append(_secret(user_ui.post(f"/ui/keys/{key_id.group(1)}/rotate", {"grace_period_s": "3600"}).text))
    for path in ADMIN_PAGES + SHARED_PAGES + ["/ui/providers/secretive/edit", "/ui/usage?group_by=key"]:
        admin_ui.get(path)
    for path in [*SHARED_PAGES, "/ui/account"]:
        user_ui.get(path)
    never = (*SECRETS_NEVER_SHOWN, NEW_PROVIDER_SECRET, HEADER_SECRET)
    for label, response in admin_ui.seen + user_ui.seen:
        text = response.text + str(dict(response.headers))
        for secret in never:
            assert secret not in text, f"{label} shows {secret[:8]}..."
    for secret in created:
        showing = [label for label, r in admin_ui.seen + user_ui.seen if secret in r.text]
        assert len(showing) == 1 and showing[0].startswith("POST /ui/keys"), (secret[:10], showing)
