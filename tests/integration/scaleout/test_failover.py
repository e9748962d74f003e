"""Replica A is SIGKILLed mid-load: B loses nothing, A loses at most its last flush interval of usage,
and the task A was running is finished by B.

What tests/integration/usage/test_no_loss.py already proves for one process (SIGTERM loses nothing,
a restart on the same data dir adopts a killed process's journal) is not repeated here. This is the
replica that does not come back: its journal stays on its own disk, so the database lacks exactly
what A had not written yet, and the other replica must carry on regardless.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess
from tests.integration.scaleout.conftest import Replicas, scaleout_config, start_replicas, usage_ids, wait_for
from tests.integration.tasks.conftest import SlowUpstream, auth, chat, kill_hard, wait_task
from tests.integration.usage.harness import KEYS

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

FLUSH_S = 1.0
"""POLYROUTE_USAGE_FLUSH_INTERVAL_S here: the default, so the measured loss is the documented one."""
SLACK_S = 0.5
"""Scheduler jitter on a loaded two-core machine, on top of the flush interval."""
KEY = KEYS["open"]


@pytest.fixture(scope="module")
def slow() -> Iterator[SlowUpstream]:
    server = SlowUpstream()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pair(
    tmp_path: Path, fake_openai: FakeOpenAI, slow: SlowUpstream, postgres_url: str, scaleout_redis_url: str
) -> Iterator[Replicas]:
    config = scaleout_config(fake_openai)
    models = [{"id": "slow-3000"}]
    config["providers"].append(
        {"name": "slowai", "kind": "openai", "base_url": slow.base_url + "/v1", "models": models}
    )
    env = {"POLYROUTE_USAGE_FLUSH_INTERVAL_S": str(FLUSH_S), "POLYROUTE_TASK_LEASE_S": "2"}
    # B polls the queue rarely, so A (woken by its own enqueue) is the one that claims the task.
    pair = start_replicas(
        tmp_path,
        config,
        database_url=postgres_url,
        redis_url=scaleout_redis_url,
        env=env,
        env_b={"POLYROUTE_TASK_POLL_S": "30"},
    )
    try:
        yield pair
    finally:
        pair.b.stop()
        if pair.a.alive():
            kill_hard(pair.a)


@dataclass
class Call:
    ended: float
    status: int | None
    request_id: str | None
    error: str | None = None


@dataclass
class Load:
    """Client threads per replica calling until stopped; a thread stops at its first transport error."""

    gw: GatewayProcess
    threads: int = 3
    calls: list[Call] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def _run(self) -> None:
        body = {"model": "compat/fake-slow-200", "messages": [{"role": "user", "content": "keep count"}]}
        with httpx.Client(base_url=self.gw.base_url, timeout=10) as http:
            while not self._stop.is_set():
                try:
                    resp = http.post("/v1/chat/completions", json=body, headers=auth(KEY))
                except httpx.HTTPError as exc:
                    self.calls.append(Call(time.monotonic(), None, None, repr(exc)))
                    return
                self.calls.append(Call(time.monotonic(), resp.status_code, resp.headers.get("x-request-id")))

    def start(self) -> Load:
        self._workers = [threading.Thread(target=self._run) for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(30)

    def answered(self) -> list[Call]:
        return [c for c in self.calls if c.status is not None]


def _journaled(gw: GatewayProcess) -> set[str]:
    """Request ids in the replica's usage journal (what a restart on its data dir would write)."""
    ids: set[str] = set()
    for path in gw.data_dir.glob("usage-spool-*"):
        for line in path.read_bytes().splitlines():
            try:
                ids.add(msgspec.json.decode(line)["id"])
            except (msgspec.DecodeError, KeyError, TypeError):
                continue  # a line torn by the kill
    return ids


def _submit(gw: GatewayProcess, text: str) -> str:
    """A task of 3 s upstream work, submitted to `gw` (whose runner claims it at once)."""
    body = {"endpoint": "/v1/chat/completions", "body": chat("slowai/slow-3000", text=text)}
    with gw.http() as http:
        created = http.post("/v1/tasks", json=body, headers=auth(KEY))
    assert created.status_code == 202, created.text
    return str(created.json()["id"])


def test_killing_a_mid_load_loses_nothing_of_b_and_b_finishes_as_task(pair: Replicas, slow: SlowUpstream) -> None:
    a, b = pair.a, pair.b
    text = f"failover {a.port}"
    on_a, on_b = Load(a).start(), Load(b).start()
    try:
        wait_for(lambda: len(on_a.answered()) >= 20 and len(on_b.answered()) >= 20, 15, "load on both")
        task_id = _submit(a, text)
        with b.http() as http:  # visible from B at once: tasks live in the shared database
            assert wait_task(http, task_id, until={"running"}, timeout=5, key=KEY)["attempts"] == 1
        wait_for(lambda: slow.in_flight() == 1, 5, "A's run of the task reached the upstream")
        killed_at = time.monotonic()
        kill_hard(a)
        time.sleep(1.5)  # B keeps serving alone
    finally:
        on_a.stop()
        on_b.stop()

    # B: every request it was sent succeeded, and every one is in usage.
    assert [c.status for c in on_b.calls] == [200] * len(on_b.calls), [c.error for c in on_b.calls if c.error]
    b_ids = [c.request_id for c in on_b.calls if c.request_id]
    assert len(b_ids) == len(on_b.calls)
    wait_for(lambda: len(usage_ids(pair.database_url, b_ids)) == len(b_ids), 10, "B's requests in usage")

    # A: what it answered is in usage, except at most what it answered in its last flush interval.
    answered = [c for c in on_a.answered() if c.request_id]
    stored = set(usage_ids(pair.database_url, [c.request_id for c in answered if c.request_id]))
    lost = [c for c in answered if c.request_id not in stored]
    journaled = _journaled(a) & {c.request_id for c in lost}
    oldest = max((killed_at - c.ended for c in lost), default=0.0)
    print(
        f"SIGKILL of A: {len(answered)} answered, {len(stored)} in usage, {len(lost)} lost "
        f"(oldest answered {oldest:.2f}s before the kill; {len(journaled)} of them in A's journal, "
        f"written if A restarts on its data dir); B: {len(on_b.calls)} sent, all 200 and in usage"
    )
    assert all(c.ended > killed_at - FLUSH_S - SLACK_S for c in lost)

    # The task: A's lease lapses, B requeues and runs it; the killed run and B's are its two attempts.
    with b.http() as http:
        done = wait_task(http, task_id, timeout=20, key=KEY)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    assert done["result"]["choices"][0]["message"]["content"] == f"slow answer to {text}"
    assert slow.hung_up.count(text) == 1  # A's run, cut by the kill
    assert slow.answered.count(text) == 1  # never two runners to the end
