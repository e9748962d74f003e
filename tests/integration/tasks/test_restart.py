"""A task outlives its gateways: a graceful stop hands it back, a SIGKILL is retried, the next gateway finishes it."""

from __future__ import annotations

from pathlib import Path

from tests.db_backends import database_url
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess, start_gateway
from tests.integration.tasks.conftest import (
    TASK_ENV,
    SlowUpstream,
    auth,
    chat,
    kill_hard,
    task_config,
    wait_for,
    wait_task,
)


def _running(gw: GatewayProcess, task_id: str, slow: SlowUpstream, text: str) -> None:
    with gw.http() as http:
        wait_task(http, task_id, until={"running"}, timeout=10)
    wait_for(lambda: slow.in_flight() == 1, what="the upstream call started")


def test_a_task_survives_sigterm_and_sigkill_of_its_gateways(
    backend: str, tmp_path: Path, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI, slow: SlowUpstream
) -> None:
    config = task_config(fake_openai, fake_backup, slow)
    text = f"survive {tmp_path.name}"
    env = {**TASK_ENV, "POLYROUTE_DRAIN_TIMEOUT_S": "0.5"}  # shorter than the call: a stop cannot wait for it
    body = {"endpoint": "/v1/chat/completions", "body": chat("slowai/slow-4000", text=text)}
    with database_url(backend, tmp_path) as url:
        first = start_gateway(tmp_path, config, env=env, database_url=url)
        try:
            with first.http() as http:
                task_id = http.post("/v1/tasks", json=body, headers=auth()).json()["id"]
            _running(first, task_id, slow, text)
        finally:
            assert first.stop() == 0  # SIGTERM: the run is stopped and the task requeued at once
        assert slow.hung_up.count(text) == 1
        second = start_gateway(tmp_path, config, env=env, database_url=url)
        try:
            _running(second, task_id, slow, text)
        finally:
            kill_hard(second)  # a crash: the lease lapses, and the next gateway retries the task
        third = start_gateway(tmp_path, config, env=env, database_url=url)
        try:
            with third.http() as http:
                done = wait_task(http, task_id, timeout=20)
        finally:
            third.stop()
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2  # the killed run and the finished one; the graceful stop did not count
    assert done["result"]["choices"][0]["message"]["content"] == f"slow answer to {text}"
    assert slow.answered.count(text) == 1
