"""Two gateway processes on one SQLite file: idle polls skip their queries, yet miss no commit.

The catalog, task and batch polls run their query only when SQLite's commit counter moved (or
every half lease regardless). Here the leases stay at their 30 s default, so anything B picks up
within a couple of seconds it found through the counter, not the fallback.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import base_config
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import start_gateway
from tests.integration.tasks.conftest import auth, chat, wait_for, wait_task
from tests.integration.usage.harness import new_key


def test_a_key_and_a_task_made_on_one_process_are_picked_up_by_the_other(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    config = base_config(fake_openai, fake_openai)
    poll = {"POLYROUTE_CATALOG_POLL_S": "0.5", "POLYROUTE_TASK_POLL_S": "0.5"}
    submitter = start_gateway(tmp_path / "a", config, database_url=url, env={**poll, "POLYROUTE_TASK_WORKERS": "0"})
    runner = start_gateway(tmp_path / "b", None, database_url=url, env=poll)
    try:
        time.sleep(2)  # both idle for a few polls: their watches have settled on the current counter
        key, _ = new_key(submitter.base_url, submitter.admin_key)
        made = time.monotonic()
        with runner.http() as http:
            wait_for(lambda: http.get("/v1/models", headers=auth(key)).status_code == 200, 3, "B knows A's key")
        print(f"key made on A, served by B after {1000 * (time.monotonic() - made):.0f} ms")
        body = {"endpoint": "/v1/chat/completions", "body": chat(text="across processes")}
        with submitter.http() as http:
            task_id = http.post("/v1/tasks", json=body, headers=auth(key)).json()["id"]
            done = wait_task(http, task_id, timeout=5, key=key)  # A runs no tasks: B claimed it
    finally:
        submitter.stop()
        runner.stop()
    assert done["status"] == "succeeded", done
    assert done["result"]["choices"][0]["message"]["content"] == "Hello from gpt-fake. You said: across processes"
