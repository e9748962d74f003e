"""The audit log page: a change made in the UI is named after the signed-in admin, and the page shows it."""

from __future__ import annotations

from tests.integration.ui.conftest import UIClient, page_text


def test_a_plan_made_in_the_ui_is_logged_as_the_admins_change(admin_ui: UIClient, user_ui: UIClient) -> None:
    made = admin_ui.post("/ui/plans", {"name": "audited-in-ui", "rpm": "7", "models": "*"})
    assert made.status_code == 303, made.text
    api = admin_ui.gw.admin().get("/v1/audit", params={"resource": "plan", "actor": "admin1"}).json()["data"]
    [event] = [e for e in api if e["resource_name"] == "audited-in-ui"]
    assert event["actor"]["via"] == "ui" and event["action"] == "create" and event["changes"]["rpm"] == 7
    page = admin_ui.get("/ui/audit?resource=plan")
    assert page.status_code == 200
    assert "admin1 ui create audited-in-ui plan" in page_text(page.text)
    narrowed = page_text(admin_ui.get(f"/ui/audit?resource_id={event['resource_id']}").text)
    assert "audited-in-ui" in narrowed and "rpm : 7" in narrowed and "One object's history" in narrowed
    assert user_ui.get("/ui/audit").status_code == 403
