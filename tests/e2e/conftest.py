"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright against a real gateway process."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, artifacts_dir
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess, start_gateway

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN_USER, ADMIN_PASSWORD = "e2e-admin", "e2e-admin-password"
PLAIN_USER, PLAIN_PASSWORD = "e2e-user", "e2e-user-password"


def e2e_config() -> dict[str, Any]:
    return {
        "providers": [{"name": "demo", "kind": "demo", "models": [{"id": "echo", "context_window": 8192}]}],
        "routes": [{"name": "route/demo", "targets": [{"provider": "demo", "model": "echo"}]}],
        "plans": [
            {"name": "free", "models": ["route/*"], "daily_requests": 100},
            {"name": "internal", "models": ["*"]},
        ],
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped on purpose: while Playwright's sync API is open it marks an event loop as running
    in this thread, which would break every pytest-asyncio test that runs after it."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        if IN_CI:
            pytest.fail("Chromium is missing; .ci/run installs it with apt-get install chromium")
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def e2e_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, FakeOpenAI]]:
    fake = FakeOpenAI().start()
    gw = start_gateway(Path(tmp_path_factory.mktemp("e2e")), e2e_config())
    with gw.admin() as api:
        for name, password, role, plan in (
            (ADMIN_USER, ADMIN_PASSWORD, "admin", None),
            (PLAIN_USER, PLAIN_PASSWORD, "user", "free"),
        ):
            made = api.post("/v1/users", json={"username": name, "password": password, "role": role, "plan": plan})
            assert made.status_code in (200, 201), made.text
    yield gw, fake
    gw.stop()
    fake.stop()


class Shots:
    """Saves full-page screenshots under test-artifacts/screenshots/."""

    def __init__(self) -> None:
        self.folder = artifacts_dir() / "screenshots"
        self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, page: Any, name: str) -> Path:
        viewport = page.viewport_size or {"width": 0}
        if viewport["width"] >= 1024:
            # on a laptop screen nothing may need a sideways scroll (a cut-off action column did once)
            clipped = page.evaluate(
                "[...document.querySelectorAll('.table-wrap, main')]"
                ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.id || e.className)"
            )
            assert not clipped, f"{name}: content wider than its box on a laptop screen: {clipped}"
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(scope="session")
def shots() -> Shots:
    return Shots()
