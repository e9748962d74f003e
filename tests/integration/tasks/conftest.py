"""A real gateway per storage backend for the task tests, a webhook receiver, and polling helpers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.conftest import base_config
from tests.db_backends import BACKENDS, database_url
from tests.fakes.async_jobs import FakeAsyncJobs
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import FakeServer
from tests.fakes.webhooks import WebhookReceiver
from tests.gateway_process import API_KEY, GatewayProcess, start_gateway

OTHER_KEY = "sk-poly-other-0123456789abcdefghij"
WEBHOOK_SECRET = "whsec-test-tasks-0123456789"
MAX_BODY = 64 * 1024
FINISHED = {"succeeded", "failed", "cancelled"}

TASK_ENV = {
    "POLYROUTE_TASK_LEASE_S": "1.5",
    "POLYROUTE_TASK_POLL_S": "0.2",
    "POLYROUTE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "POLYROUTE_WEBHOOK_BACKOFF_S": "0.3",
    "POLYROUTE_WEBHOOK_MAX_ATTEMPTS": "4",
    "POLYROUTE_MAX_BODY_BYTES": str(MAX_BODY),
}
"""Short leases and polls so recovery is observable in seconds; a small body limit for the 413 test."""


@dataclass
class SlowUpstream(FakeServer):
    """Answers chat completions after `slow-<ms>` milliseconds, and notes callers that hang up first."""

    hung_up: list[str] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self.chat)

    async def chat(self, request: web.Request) -> web.Response:
        doc = json.loads(await request.read())
        model, text = doc["model"], doc["messages"][-1]["content"]
        deadline = time.monotonic() + int(model.rsplit("-", 1)[1]) / 1000
        while time.monotonic() < deadline:
            if request.transport is None or request.transport.is_closing():
                self.hung_up.append(text)
                return web.Response(status=499)
            await asyncio.sleep(0.02)
        self.answered.append(text)
        message = {"role": "assistant", "content": f"slow answer to {text}"}
        usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        body = {"id": "chatcmpl-slow", "object": "chat.completion", "created": 1, "model": model}
        return web.json_response({**body, "choices": [choice], "usage": usage})


def task_config(
    primary: FakeOpenAI, backup: FakeOpenAI, slow: SlowUpstream, jobs: FakeAsyncJobs | None = None
) -> dict[str, Any]:
    config = base_config(primary, backup)
    models = [{"id": "slow-4000"}, {"id": "slow-8000"}]
    slowai = {"name": "slowai", "kind": "openai", "base_url": slow.base_url + "/v1", "api_key": "sk-slow-upstream"}
    config["providers"].append({**slowai, "timeout_s": 20, "models": models})
    if jobs is not None:  # an upstream that answers 202 and is polled (async image APIs)
        config["providers"].append(
            {
                "name": "asyncai",
                "kind": "openai",
                "base_url": jobs.base_url + "/v1",
                "api_key": "sk-async-upstream",
                "timeout_s": 5,
                "models": [{"id": "async-image", "cost_per_image": 0.05}],
            }
        )
    config["api_keys"].append({"name": "other", "key": OTHER_KEY, "plan": "internal"})
    return config


def auth(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def chat(model: str = "fakeai/gpt-fake", text: str = "hello task", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def wait_task(
    http: httpx.Client, task_id: str, until: set[str] = FINISHED, timeout: float = 15, key: str = API_KEY
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = http.get(f"/v1/tasks/{task_id}", headers=auth(key))
        assert resp.status_code == 200, resp.text
        doc = resp.json()
        if doc["status"] in until:
            return doc
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} not in {until} after {timeout}s: {doc}")


def wait_for(check: Any, timeout: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not met after {timeout}s")


def kill_hard(gw: GatewayProcess) -> None:
    """SIGKILL the server and its worker processes (granian workers outlive a killed parent)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == gw.proc.pid:
            children.append(int(stat.parent.name))
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    gw.proc.kill()
    gw.proc.wait(10)


@pytest.fixture(scope="package", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="package")
def slow() -> Iterator[SlowUpstream]:
    server = SlowUpstream()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def jobs() -> Iterator[FakeAsyncJobs]:
    server = FakeAsyncJobs()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def tasks_gw(
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
    fake_backup: FakeOpenAI,
    slow: SlowUpstream,
    jobs: FakeAsyncJobs,
) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp(f"tasks-{backend}")
    with database_url(backend, tmp) as url:
        config = task_config(fake_openai, fake_backup, slow, jobs)
        gw = start_gateway(tmp, config, env=TASK_ENV, database_url=url)
        try:
            yield gw
        finally:
            gw.stop()


@pytest.fixture
def http(tasks_gw: GatewayProcess) -> Iterator[httpx.Client]:
    with tasks_gw.http() as client:
        yield client


@pytest.fixture(scope="package")
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    server.start()
    yield server
    server.stop()
