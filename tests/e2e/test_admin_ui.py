"""The admin UI in a real browser: an operator wires a provider, a route and a key, and a user serves themselves.

The official `openai` SDK calls the gateway with the secrets copied from the pages, so the test
proves the UI's writes reach the hot path (and that rotate and revoke bite: 401).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.e2e.conftest import ADMIN_PASSWORD, ADMIN_USER, PLAIN_PASSWORD, PLAIN_USER, Shots
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.e2e

UPSTREAM_SECRET = "sk-e2e-upstream-credential-0042"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield opened
    context.close()
    assert not errors, f"script errors or CSP violations in the browser: {errors}"


def _sign_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(base + "/ui/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/ui/login" not in url)


def _sdk(gw: GatewayProcess, secret: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=secret, base_url=gw.v1, max_retries=0, timeout=15)


def _ask(gw: GatewayProcess, secret: str, model: str) -> str:
    reply = _sdk(gw, secret).chat.completions.create(model=model, messages=[{"role": "user", "content": "ping"}])
    return reply.model


def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.25)


def _confirm(page: Any, row_text: str, button: str) -> None:
    """Click a destructive button in a row and accept the confirmation dialog."""
    page.locator("tr", has_text=row_text).get_by_role("button", name=button).click()
    dialog = page.locator("#confirm-dialog")
    assert dialog.is_visible()
    dialog.locator("#confirm-ok").click()


def _add_provider(page: Any, base: str, fake: FakeOpenAI, shots: Shots) -> None:
    page.goto(base + "/ui/providers/new")
    page.fill("#f-name", "e2e-upstream")
    page.select_option("#f-kind", "openai")
    page.fill("#f-base_url", "not a url")
    page.fill("#f-api_key", UPSTREAM_SECRET)
    page.fill("#m-r0-id", "gpt-fake")
    page.fill("#m-r0-input_cost_per_mtok", "1.5")
    page.fill("#m-r0-output_cost_per_mtok", "3")
    page.get_by_role("button", name="Create provider").click()
    page.locator("#f-base_url[aria-invalid='true']").wait_for()
    assert "/ui/providers/new" in page.url, "an invalid form stays on the page"
    shots(page, "provider-form-invalid")
    page.fill("#f-base_url", fake.base_url + "/v1")
    page.fill("#f-api_key", UPSTREAM_SECRET)
    page.get_by_role("button", name="Create provider").click()
    page.wait_for_url(base + "/ui/providers")
    page.locator(".toast", has_text="created").wait_for()
    page.locator("tr", has_text="e2e-upstream").get_by_role(
        "button", name="Test the connection to e2e-upstream"
    ).click()
    page.locator("#probe-e2e-upstream", has_text="Reachable").wait_for()
    assert UPSTREAM_SECRET not in page.content()
    shots(page, "providers")


def _add_route(page: Any, base: str, shots: Shots) -> None:
    page.goto(base + "/ui/routes/new")
    page.fill("#f-name", "route/e2e")
    page.select_option("#t-r0-provider", "e2e-upstream")
    page.fill("#t-r0-model", "gpt-fake")
    page.locator("#t-r0-model").dispatch_event("change")
    page.locator("#route-preview", has_text="e2e-upstream/gpt-fake").wait_for()
    shots(page, "route-form-preview")
    page.get_by_role("button", name="Create route").click()
    page.wait_for_url(base + "/ui/routes")
    page.locator("tr", has_text="route/e2e").wait_for()
    shots(page, "routes")


def _create_key(page: Any, base: str, shots: Shots, name: str, plan: str | None, shot: str) -> str:
    page.goto(base + "/ui/keys/new")
    page.fill("#f-name", name)
    if plan is not None:
        page.select_option("#f-plan", plan)
    page.get_by_role("button", name="Create key").click()
    page.get_by_text("Copy this secret now").wait_for()
    page.get_by_role("button", name="Copy").click()
    page.locator(".toast", has_text="Copied").wait_for()
    shots(page, shot)
    secret: str = page.input_value("#new-secret")
    assert secret.startswith("sk-poly-")
    return secret


def _cache_hit_in_the_log(page: Any, gw: GatewayProcess, secret: str, shots: Shots) -> None:
    """Ask twice with the per-request cache opt-in: the second is a hit, and the log says what it saved."""
    sdk = _sdk(gw, secret).with_options(default_headers={"x-polyroute-cache": "use"})
    ask: Any = [{"role": "user", "content": "cache me"}]
    states = [sdk.chat.completions.with_raw_response.create(model="route/e2e", messages=ask) for _ in range(2)]
    assert [s.headers["x-polyroute-cache"] for s in states] == ["miss", "hit"]
    hit_id = states[1].headers["x-request-id"]

    def logged() -> bool:
        page.goto(gw.base_url + "/ui/requests")
        return page.locator("tr", has_text="cache hit").count() > 0

    _until(logged)
    shots(page, "requests")
    page.goto(gw.base_url + f"/ui/requests/{hit_id}")
    page.get_by_text("the response cache answered").wait_for()
    assert page.locator("dt:has-text('Response cache') + dd").inner_text() == "hit"
    assert page.locator("dt:has-text('Served by') + dd").inner_text() == "the response cache"
    saved = page.locator("dt:has-text('Saved') + dd").inner_text()
    assert "e2e-upstream/gpt-fake" in saved and re.search(r"\$0\.0000[1-9]", saved), saved
    shots(page, "request-cache-hit")


def test_operator_wires_provider_route_and_key_then_rotates_and_revokes(
    page: Any, e2e_gateway: tuple[GatewayProcess, FakeOpenAI], shots: Shots
) -> None:
    gw, fake = e2e_gateway
    base = gw.base_url
    page.goto(base + "/ui/login")
    shots(page, "login")
    _sign_in(page, base, ADMIN_USER, ADMIN_PASSWORD)
    assert page.url.endswith("/ui/dashboard")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link", "the first Tab reaches the skip link"

    _add_provider(page, base, fake, shots)
    _add_route(page, base, shots)
    secret = _create_key(page, base, shots, "e2e-app", "internal", "key-created")
    assert _ask(gw, secret, "route/e2e") == "e2e-upstream/gpt-fake"

    def dashboard_counts() -> bool:
        page.goto(base + "/ui/dashboard?window=hour")
        return page.locator(".stat-value").first.inner_text() != "0"

    _until(dashboard_counts)
    page.locator("#dashboard-panel table", has_text="gpt-fake").first.wait_for()
    shots(page, "dashboard")
    # Narrowed to one end user: only that end user's calls count, and the window links keep the filter.
    _sdk(gw, secret).chat.completions.create(
        model="route/e2e", messages=[{"role": "user", "content": "ping"}], user="dash-alice"
    )

    def alices_call_counts() -> bool:
        page.goto(base + "/ui/dashboard?window=hour")
        page.fill("#dash-end-user", "dash-alice")
        page.get_by_role("button", name="Apply").click()
        page.locator("#dashboard-narrowed").wait_for()
        return page.locator(".stat-value").first.inner_text() == "1"

    _until(alices_call_counts)
    assert "end_user=dash-alice" in page.get_by_role("link", name="Last 24 hours").get_attribute("href")
    page.goto(base + "/ui/dashboard?window=hour&end_user=nobody-at-all")
    assert page.locator(".stat-value").first.inner_text() == "0"
    page.goto(base + "/ui/requests")
    page.locator("tr", has_text="route/e2e").get_by_role("link").first.click()
    page.get_by_role("heading", name="Attempts (1)").wait_for()
    assert "e2e-upstream/gpt-fake" in page.content()
    assert page.locator("dt:has-text('Trace id') + dd code").inner_text() not in ("", "—")
    shots(page, "request-detail")
    _cache_hit_in_the_log(page, gw, secret, shots)

    page.goto(base + "/ui/keys")
    _confirm(page, "e2e-app", "Rotate e2e-app")
    page.get_by_text("Copy this secret now").wait_for()
    rotated: str = page.input_value("#new-secret")
    assert rotated != secret
    with pytest.raises(openai.AuthenticationError):
        _ask(gw, secret, "route/e2e")
    assert _ask(gw, rotated, "route/e2e") == "e2e-upstream/gpt-fake"
    page.goto(base + "/ui/keys")
    _confirm(page, "e2e-app", "Revoke e2e-app")
    page.locator(".toast", has_text="revoked").wait_for()
    page.locator("tr", has_text="e2e-app").locator(".badge", has_text="revoked").wait_for()
    shots(page, "keys")
    with pytest.raises(openai.AuthenticationError):
        _ask(gw, rotated, "route/e2e")

    page.goto(base + "/ui/playground")
    page.select_option("#pg-model", "route/e2e")
    page.fill("#pg-message", "hello from the playground")
    page.get_by_role("button", name="Send").click()
    page.locator('[data-fact="model"]', has_text="e2e-upstream/gpt-fake").wait_for()
    assert "hello from the playground" in page.locator("#pg-transcript").inner_text()
    shots(page, "playground")
    for path, name in (("/ui/usage?group_by=model", "usage"), ("/ui/models", "models"), ("/ui/plans", "plans")):
        page.goto(base + path)
        shots(page, name)
    page.goto(base + "/ui/tasks")
    shots(page, "tasks")


def test_user_manages_own_keys_sees_own_usage_and_is_refused_admin_pages(
    page: Any, browser: Any, e2e_gateway: tuple[GatewayProcess, FakeOpenAI], shots: Shots
) -> None:
    gw, _ = e2e_gateway
    base = gw.base_url
    with gw.admin() as api:
        other = api.post("/v1/api-keys", json={"name": "someone-elses-key", "plan": "internal"}).json()["key"]
    _ask(gw, other, "route/demo")
    _sign_in(page, base, PLAIN_USER, PLAIN_PASSWORD)
    assert page.url.endswith("/ui/account")
    secret = _create_key(page, base, shots, "my-app", None, "user-key-created")
    assert _ask(gw, secret, "route/demo") == "demo/echo"

    def my_usage_counts() -> bool:
        page.goto(base + "/ui/usage?group_by=key")
        return page.locator("#usage-results tbody tr").count() == 1

    _until(my_usage_counts)
    results = page.locator("#usage-results").inner_text()
    assert "my-app" in results and "someone-elses-key" not in results
    shots(page, "user-usage")
    page.goto(base + "/ui/requests")
    assert page.locator("#request-log tbody tr").count() == 1
    page.goto(base + "/ui/account")
    page.get_by_text("Remaining today").wait_for()
    assert "99 of 100" in page.locator("table", has_text="my-app").inner_text()
    shots(page, "user-account")
    _sdk(gw, secret).chat.completions.create(
        model="route/demo",
        messages=[{"role": "user", "content": "for a customer"}],
        user="customer-7",
        extra_headers={"x-polyroute-tags": "feature:ui"},
    )

    def by_end_user() -> bool:
        page.goto(base + "/ui/usage?group_by=end_user&tag=feature:ui")
        return page.locator("#usage-results tbody tr").count() == 1

    _until(by_end_user)
    assert "customer-7" in page.locator("#usage-results").inner_text()
    assert page.locator("#flt-tag").input_value() == "feature:ui"
    page.goto(base + "/ui/requests?end_user=customer-7")
    assert page.locator("#request-log tbody tr").count() == 1
    page.locator("#request-log tbody tr a").first.click()
    page.get_by_text("End user").wait_for()
    assert "feature:ui" in page.locator("main").inner_text()
    shots(page, "user-request-attributed")
    for path in ("/ui/providers", "/ui/dashboard", "/ui/plans"):
        response = page.goto(base + path)
        assert response is not None and response.status == 403
        page.get_by_text("This page is for administrators").wait_for()
    shots(page, "user-refused")
    page.goto(base + "/ui/keys")
    _confirm(page, "my-app", "Revoke my-app")
    page.locator(".toast", has_text="revoked").wait_for()
    with pytest.raises(openai.AuthenticationError):
        _ask(gw, secret, "route/demo")

    phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=page.context.storage_state())
    small = phone.new_page()
    small.goto(base + "/ui/keys")
    assert not small.locator("#site-nav").is_visible()
    small.get_by_role("button", name="Menu").click()
    small.locator("#site-nav").get_by_role("link", name="My usage").wait_for()
    shots(small, "phone-keys-menu")
    small.goto(base + "/ui/models")
    shots(small, "phone-models")
    phone.close()


def test_operator_edits_a_plan_filters_the_catalog_and_follows_a_task(
    page: Any, e2e_gateway: tuple[GatewayProcess, FakeOpenAI], shots: Shots
) -> None:
    gw, _ = e2e_gateway
    base = gw.base_url
    with gw.admin() as api:
        secret = api.post("/v1/api-keys", json={"name": "batch-app", "plan": "internal"}).json()["key"]
        queued = api.post(
            "/v1/chat/completions",
            json={"model": "route/demo", "messages": [{"role": "user", "content": "later"}]},
            headers={"Authorization": f"Bearer {secret}", "Prefer": "respond-async"},
        )
    assert queued.status_code == 202, queued.text
    task_id = queued.json()["id"]
    _sign_in(page, base, ADMIN_USER, ADMIN_PASSWORD)

    def task_done() -> bool:
        page.goto(base + "/ui/tasks")
        return page.locator("tr", has_text=task_id).locator(".badge", has_text="succeeded").count() == 1

    _until(task_done)
    assert "batch-app" in page.locator("tr", has_text=task_id).inner_text(), "the task names its key"
    shots(page, "tasks")
    page.goto(base + "/ui/keys")
    page.get_by_label("Rename batch-app").click()
    page.fill("#key-table tr:has-text('batch-app') input[name='name']", "nightly-batch")
    page.locator("tr", has_text="batch-app").get_by_role("button", name="Save").click()
    page.locator(".toast", has_text="renamed to 'nightly-batch'").wait_for()
    shots(page, "key-renamed")
    page.goto(base + "/ui/tasks")
    assert "nightly-batch" in page.locator("tr", has_text=task_id).inner_text(), "the new name shows everywhere"
    assert _sdk(gw, secret).models.list().data, "the secret still works after a rename"

    page.goto(base + "/ui/plans/new")
    page.fill("#f-name", "team")
    page.fill("#f-daily_requests", "500")
    page.fill("#f-models", "route/*")
    # the live preview follows the globs: provider models drop out, routes stay
    _until(lambda: "demo/echo" not in page.locator("#plan-matches").inner_text())
    assert "route/demo" in page.locator("#plan-matches").inner_text()
    page.get_by_role("button", name="Create plan").click()
    page.wait_for_url(base + "/ui/plans")
    page.get_by_role("link", name="Edit team").click()
    page.fill("#f-daily_requests", "1000")
    page.fill("#f-eu_rpm", "5")
    page.fill("#f-models", "route/*\ndemo/*")
    shots(page, "plan-edit")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(base + "/ui/plans")
    row = page.locator("tr", has_text="team")
    assert "1,000" in row.inner_text() and "demo/*" in row.inner_text()
    shots(page, "plans")
    with gw.admin() as api:
        plan = api.get("/v1/plans/team").json()
    assert plan["daily_requests"] == 1000 and plan["models"] == ["route/*", "demo/*"]
    assert plan["end_user_limits"] == {"rpm": 5}
    page.get_by_role("link", name="Edit team").click()
    assert page.locator("#f-eu_rpm").input_value() == "5"

    page.goto(base + "/ui/models")
    page.select_option("#flt-kind", "route")
    page.locator("#model-rows tbody tr").first.wait_for()
    _until(lambda: "demo/echo" not in page.locator("#model-rows").inner_text().split("route/demo")[0])
    page.fill("#flt-q", "nothing-by-this-name")
    page.get_by_text("No models match").wait_for()
    assert "flt-q=" not in page.url and "q=nothing-by-this-name" in page.url, "the filter is in the URL"


def test_operator_edits_and_deletes_a_provider_and_a_route(
    page: Any, e2e_gateway: tuple[GatewayProcess, FakeOpenAI], shots: Shots
) -> None:
    gw, _ = e2e_gateway
    base = gw.base_url
    with gw.admin() as api:
        made = api.post("/v1/configs", json={"name": "spare", "kind": "demo", "models": [{"id": "echo"}]})
        assert made.status_code in (200, 201), made.text
        route = {
            "name": "route/pair",
            "targets": [{"provider": "demo", "model": "echo"}, {"provider": "spare", "model": "echo", "priority": 1}],
        }
        assert api.post("/v1/routes", json=route).status_code in (200, 201)
    _sign_in(page, base, ADMIN_USER, ADMIN_PASSWORD)

    page.goto(base + "/ui/routes")
    page.get_by_role("link", name="Edit route/pair").click()
    page.fill("#t-r1-priority", "0")
    page.fill("#t-r1-weight", "3")
    page.select_option("#f-strategy", "latency-weighted")
    page.locator("#t-r1-weight").dispatch_event("change")
    page.locator("#route-preview", has_text="weight 3").wait_for()
    share = page.locator("#route-preview tr", has_text="spare/echo").locator("td.num").inner_text()
    assert float(share.rstrip("%")) > 55, f"weight 3 of 4 should come first about 75% of the time, got {share}"
    shots(page, "route-edit")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(base + "/ui/routes")
    with gw.admin() as api:
        saved = api.get("/v1/routes/route/pair").json()
    assert saved["strategy"] == "latency-weighted"
    # defaults are omitted on the wire (priority 0, weight 1)
    assert sorted((t["provider"], t.get("priority", 0), t.get("weight", 1.0)) for t in saved["targets"]) == [
        ("demo", 0, 1.0),
        ("spare", 0, 3.0),
    ]

    page.goto(base + "/ui/providers")
    page.get_by_role("link", name="Edit spare").click()
    page.fill("#m-r0-input_cost_per_mtok", "2.5")
    page.get_by_text("Timeouts, concurrency, budgets, headers and probing").click()
    page.fill("#f-max_concurrent", "two")
    page.get_by_role("button", name="Save changes").click()
    page.locator("#f-max_concurrent-error", has_text="must be a whole number").wait_for()
    page.fill("#f-max_concurrent", "3")
    page.fill("#f-batch_cost_factor", "0.4")
    page.fill("#f-daily_budget_usd", "12.5")
    page.fill("#f-api_version", "2024-10-21")  # Azure's setting, on a demo provider: refused at the field
    page.get_by_role("button", name="Save changes").click()
    page.locator("#f-api_version-error", has_text="only a provider of kind azure").wait_for()
    page.fill("#f-api_version", "")
    page.get_by_role("button", name="Save changes").click()
    page.locator(".toast", has_text="Provider 'spare' updated").wait_for()
    with gw.admin() as api:
        saved = api.get("/v1/configs/spare").json()
        assert (saved["models"][0]["input_cost_per_mtok"], saved["max_concurrent"]) == (2.5, 3)
        assert saved["batch_cost_factor"] == 0.4
        assert (saved["daily_budget_usd"], saved["monthly_budget_usd"]) == (12.5, None)

    _confirm(page, "spare", "Delete spare")
    page.locator(".toast", has_text="route/pair").wait_for()  # still targeted: refused, and says by what
    page.goto(base + "/ui/routes")
    _confirm(page, "route/pair", "Delete route/pair")
    page.locator(".toast", has_text="deleted").wait_for()
    page.goto(base + "/ui/providers")
    _confirm(page, "spare", "Delete spare")
    page.locator(".toast", has_text="Provider 'spare' deleted").wait_for()
    with gw.admin() as api:
        assert api.get("/v1/configs/spare").status_code == 404
        assert api.get("/v1/routes/route/pair").status_code == 404


def test_operator_runs_a_team_its_members_and_a_team_key(
    page: Any, e2e_gateway: tuple[GatewayProcess, FakeOpenAI], shots: Shots
) -> None:
    gw, _ = e2e_gateway
    base = gw.base_url
    with gw.admin() as api:
        made = api.post(
            "/v1/users",
            json={"username": "e2e-teammate", "password": "e2e-teammate-password", "role": "user", "plan": "free"},
        )
        assert made.status_code in (200, 201), made.text
    _sign_in(page, base, ADMIN_USER, ADMIN_PASSWORD)

    page.goto(base + "/ui/teams/new")
    page.fill("#f-name", "squad")
    page.select_option("#f-plan", "internal")
    page.fill("#f-models", "route/*")
    page.fill("#f-rpm", "lots")
    page.get_by_role("button", name="Create team").click()
    page.locator("#f-rpm-error", has_text="must be a whole number").wait_for()
    assert "/ui/teams/new" in page.url, "an invalid form stays on the page"
    page.fill("#f-rpm", "30")
    page.fill("#f-daily_requests", "2000")
    page.fill("#f-monthly_budget_usd", "25")
    page.get_by_role("button", name="Create team").click()
    page.wait_for_url(base + "/ui/teams/squad/edit")
    page.locator(".toast", has_text="Team 'squad' created").wait_for()

    page.fill("#f-user", "nobody-by-this-name")
    page.get_by_role("button", name="Add member").click()
    page.locator("#f-user-error", has_text="nobody-by-this-name").wait_for()
    page.fill("#f-user", "e2e-teammate")
    page.get_by_role("button", name="Add member").click()
    page.locator(".toast", has_text="e2e-teammate added to team 'squad' as member").wait_for()
    page.get_by_label("Role of e2e-teammate").select_option("admin")
    page.get_by_role("button", name="Save role for e2e-teammate").click()
    page.locator(".toast", has_text="e2e-teammate is now admin").wait_for()
    assert page.get_by_label("Role of e2e-teammate").input_value() == "admin"
    shots(page, "team-edit")
    with gw.admin() as api:
        team = api.get("/v1/teams/squad").json()
    assert team["plan"] == "internal" and team["models"] == ["route/*"]
    assert team["limits"] == {"rpm": 30, "daily_requests": 2000, "monthly_budget_usd": 25.0}
    assert [(m["username"], m["role"]) for m in team["members"]] == [("e2e-teammate", "admin")]

    # a key made in the team: the team's models narrow the plan's ("internal" allows every model)
    page.goto(base + "/ui/keys/new")
    page.fill("#f-name", "squad-app")
    page.select_option("#f-user_id", label="e2e-teammate")
    page.select_option("#f-team", label="squad")
    page.get_by_role("button", name="Create key").click()
    page.get_by_text("Copy this secret now").wait_for()
    secret: str = page.input_value("#new-secret")
    assert _ask(gw, secret, "route/demo") == "demo/echo"
    with pytest.raises(openai.PermissionDeniedError):
        _ask(gw, secret, "demo/echo")
    page.goto(base + "/ui/keys")
    row = page.locator("#key-table tr", has_text="squad-app")
    assert "team squad" in row.inner_text()
    key_id = (row.get_attribute("id") or "").removeprefix("key-")
    with gw.admin() as api:
        key = api.get(f"/v1/api-keys/{key_id}").json()
        assert key["team_id"] == team["id"] and key["plan"] == "internal"
        spare = api.post("/v1/api-keys", json={"name": "squad-service", "team": "squad"})
        assert spare.status_code in (200, 201), spare.text

    page.goto(base + "/ui/teams")
    row = page.locator("tr", has_text="squad")
    listed = row.inner_text()
    assert "internal" in listed and "route/*" in listed and "30 RPM" in listed and "$25" in listed, listed
    assert row.locator("td.num").all_inner_texts() == ["1", "2"], "one member, two active keys"
    shots(page, "teams")

    page.get_by_role("link", name="Edit squad").click()
    _confirm(page, "e2e-teammate", "Remove e2e-teammate")
    page.locator(".toast", has_text="e2e-teammate removed from team 'squad'").wait_for()
    page.get_by_text("No members yet.").wait_for()
    with pytest.raises(openai.AuthenticationError):
        _ask(gw, secret, "route/demo")  # removing a member revokes the keys they made in the team

    page.goto(base + "/ui/teams")
    _confirm(page, "squad", "Delete squad")  # its service key is still active: refused, and says how
    page.locator(".toast", has_text="still has 1 active API keys").wait_for()
    page.get_by_label("Revoke the keys of squad with it").check()
    _confirm(page, "squad", "Delete squad")
    page.locator(".toast", has_text="Team 'squad' deleted").wait_for()
    page.get_by_text("No teams yet").wait_for()
    with gw.admin() as api:
        assert api.get("/v1/teams/squad").status_code == 404
        assert api.get(f"/v1/api-keys/{spare.json()['id']}").json()["revoked_at"] is not None


def test_operator_writes_versions_tries_and_publishes_a_prompt(
    page: Any, e2e_gateway: tuple[GatewayProcess, FakeOpenAI], shots: Shots
) -> None:
    gw, _ = e2e_gateway
    base = gw.base_url
    with gw.admin() as api:  # on the free plan: it allows route/*, which is what the rendered request names
        secret = api.post("/v1/api-keys", json={"name": "prompt-app", "plan": "free"}).json()["key"]
    _sign_in(page, base, ADMIN_USER, ADMIN_PASSWORD)

    page.goto(base + "/ui/prompts/new")
    page.fill("#f-name", "support-bot")
    page.fill("#f-model", "route/demo")  # the demo provider echoes the last user message: the rendered one
    page.fill("#f-description", "First answer to a customer")
    page.fill("#msg-r0-content", "You support {{product}}.")
    page.fill("#msg-r1-content", "Customer: {{customer}}")
    page.fill("#f-variables", "product=Polyroute")
    page.fill("#f-params", "{temperature: 0.2}")
    page.get_by_role("button", name="Create prompt").click()
    page.locator("#f-params-error", has_text="is not valid JSON").wait_for()
    page.fill("#f-params", '{"temprature": 0.2}')
    page.get_by_role("button", name="Create prompt").click()
    page.locator("#f-params-error", has_text="unknown parameter 'temprature'").wait_for()
    assert "/ui/prompts/new" in page.url, "an invalid form stays on the page"
    assert page.input_value("#msg-r1-content") == "Customer: {{customer}}", "what was typed is kept"
    page.fill("#f-params", '{"temperature": 0.2}')
    page.get_by_role("button", name="Create prompt").click()
    page.wait_for_url(base + "/ui/prompts/support-bot")
    page.locator(".toast", has_text="Prompt 'support-bot' created").wait_for()

    page.goto(base + "/ui/prompts")
    row = page.locator("tr", has_text="support-bot")
    listed = row.inner_text()
    assert "v1" in listed and "route/demo" in listed and "First answer to a customer" in listed, listed
    assert row.locator(".tag").all_inner_texts() == ["customer"], "product has a default: callers need not give it"
    shots(page, "prompts")

    page.get_by_role("link", name="Open support-bot").click()
    try_box = page.locator("#prompt-try")
    try_box.get_by_role("button", name="Render").click()
    page.locator("#f-variables-customer-error", has_text="needs the variable 'customer'").wait_for()
    page.fill("#f-variables-customer", "Ada")
    try_box.get_by_role("button", name="Render").click()
    rendered = page.locator("#prompt-rendered")
    rendered.wait_for()
    assert '"content": "You support Polyroute."' in rendered.inner_text()
    assert '"content": "Customer: Ada"' in rendered.inner_text() and '"temperature": 0.2' in rendered.inner_text()
    shots(page, "prompt-try")

    page.fill("#msg-r1-content", "{{customer}} writes in")
    page.get_by_label("Publish now").uncheck()
    page.get_by_role("button", name="Save as version 2").click()
    page.locator(".toast", has_text="Version 2 of 'support-bot' saved; version 1 is still published").wait_for()
    assert "published" in page.locator("tr", has_text="Version 1").inner_text()
    assert "published" not in page.locator("tr", has_text="Version 2").inner_text()
    _confirm(page, "Version 2", "Publish version 2")
    page.locator(".toast", has_text="Version 2 of 'support-bot' is published").wait_for()
    assert "published" in page.locator("tr", has_text="Version 2").inner_text()
    shots(page, "prompt-versions")

    raw = _sdk(gw, secret).chat.completions.with_raw_response.create(
        model="prompt/support-bot", messages=[], extra_body={"variables": {"customer": "Ada"}}
    )
    assert raw.headers["x-polyroute-prompt"] == "support-bot@2"
    assert raw.parse().choices[0].message.content == "Echo: Ada writes in"

    page.goto(base + "/ui/prompts")
    _confirm(page, "support-bot", "Delete support-bot")
    page.locator(".toast", has_text="Prompt 'support-bot' deleted").wait_for()
    page.get_by_text("No prompts yet").wait_for()
    with gw.admin() as api:
        assert api.get("/v1/prompts/support-bot").status_code == 404
    with pytest.raises(openai.BadRequestError):
        _sdk(gw, secret).chat.completions.create(model="prompt/support-bot", messages=[], extra_body={"variables": {}})
