"""polyroute_task_queue_depth counts the tasks waiting in the shared table, off the request path."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.db_backends import gateway_on
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY, GatewayProcess
from tests.integration.observability.conftest import observed_config

AUTH = {"authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def idle_runner(
    backend: str, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> Iterator[GatewayProcess]:
    # No task workers: whatever is queued stays queued until it is cancelled.
    env = {"POLYROUTE_TASK_WORKERS": "0"}
    with gateway_on(
        backend, tmp_path_factory.mktemp("taskdepth"), observed_config(fake_openai, fake_backup), env=env
    ) as gw:
        yield gw


def _depth(gw: GatewayProcess) -> float:
    text = httpx.get(gw.base_url + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "polyroute_task_queue_depth":
                return sample.value
    raise AssertionError("no polyroute_task_queue_depth sample")


def _wait_depth(gw: GatewayProcess, want: int, timeout: float = 10.0) -> None:
    """The count is refreshed every 2 s in the background; a scrape reads the last one."""
    deadline = time.monotonic() + timeout
    seen = _depth(gw)
    while seen != want and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = _depth(gw)
    assert seen == want, f"task_queue_depth stayed {seen}, wanted {want}"


def test_task_queue_depth_follows_the_table(idle_runner: GatewayProcess) -> None:
    gw = idle_runner
    _wait_depth(gw, 0)
    chat = {"model": "fakeai/gpt-fake", "messages": [{"role": "user", "content": "later"}]}
    body = {"endpoint": "/v1/chat/completions", "body": chat}
    ids = []
    for _ in range(3):
        resp = httpx.post(gw.v1 + "/tasks", json=body, headers=AUTH, timeout=10)
        assert resp.status_code == 202, resp.text
        ids.append(resp.json()["id"])
    _wait_depth(gw, 3)
    cancelled = httpx.delete(f"{gw.v1}/tasks/{ids[0]}", headers=AUTH, timeout=10)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    _wait_depth(gw, 2)
