"""Task webhooks from the real server: signed with the documented HMAC, retried with backoff until delivered."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx

from tests.integration.tasks.conftest import WEBHOOK_SECRET, WebhookReceiver, auth, chat, wait_for, wait_task


def _verify(header: str, body: bytes) -> bool:
    """What a receiver does, straight from the README recipe (no gateway code)."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(WEBHOOK_SECRET.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) <= 300


def _submit(http: httpx.Client, receiver: WebhookReceiver, name: str, model: str = "fakeai/gpt-fake") -> str:
    body = {"endpoint": "/v1/chat/completions", "body": chat(model), "webhook_url": f"{receiver.base_url}/hook/{name}"}
    resp = http.post("/v1/tasks", json=body, headers=auth())
    assert resp.status_code == 202, resp.text
    task_id: str = resp.json()["id"]
    return task_id


def test_the_webhook_carries_the_finished_task_signed(http: httpx.Client, receiver: WebhookReceiver) -> None:
    task_id = _submit(http, receiver, "signed")
    wait_for(lambda: len(receiver.for_task(task_id)) == 1, what="the webhook arrived")
    [delivery] = receiver.for_task(task_id)
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.headers["X-Polyroute-Task-Id"] == task_id
    assert _verify(delivery.headers["X-Polyroute-Signature"], delivery.body)
    assert not _verify(delivery.headers["X-Polyroute-Signature"], delivery.body.replace(b"succeeded", b"failed"))
    sent = json.loads(delivery.body)
    assert sent["status"] == "succeeded" and sent["result"]["object"] == "chat.completion"
    assert sent["webhook_status"] == "pending"  # as it was when sent
    wait_for(lambda: wait_task(http, task_id)["webhook_status"] == "delivered", what="the outcome was recorded")
    stored = wait_task(http, task_id)
    assert {k: v for k, v in stored.items() if k != "webhook_status"} == {
        k: v for k, v in sent.items() if k != "webhook_status"
    }


def test_a_failing_receiver_is_retried_with_backoff(http: httpx.Client, receiver: WebhookReceiver) -> None:
    receiver.failures, receiver.fail_with = 2, 503
    task_id = _submit(http, receiver, "flaky", model="fakeai/fake-500")  # a failed task is reported too
    wait_for(lambda: len(receiver.for_task(task_id)) == 3, what="three delivery attempts")
    attempts = receiver.for_task(task_id)
    assert [a.headers["X-Polyroute-Webhook-Attempt"] for a in attempts] == ["1", "2", "3"]
    assert all(_verify(a.headers["X-Polyroute-Signature"], a.body) for a in attempts)
    assert json.loads(attempts[-1].body)["problem"]["code"] == "PROVIDER_ERROR"
    last = receiver.arrivals[-3:]
    gaps = [last[1] - last[0], last[2] - last[1]]
    assert gaps[0] >= 0.25 and gaps[1] >= 0.5  # backoff 0.3 s, then 0.6 s
    wait_for(lambda: wait_task(http, task_id)["webhook_status"] == "delivered", what="delivered on the third try")


def test_a_receiver_that_never_accepts_marks_the_webhook_failed(http: httpx.Client, receiver: WebhookReceiver) -> None:
    receiver.failures, receiver.fail_with = 10, 500
    task_id = _submit(http, receiver, "down")
    wait_for(lambda: wait_task(http, task_id)["webhook_status"] == "failed", timeout=10, what="gave up")
    assert len(receiver.for_task(task_id)) == 4  # POLYROUTE_WEBHOOK_MAX_ATTEMPTS
    receiver.failures = 0


def test_cancelling_a_task_reports_it_too(http: httpx.Client, receiver: WebhookReceiver) -> None:
    task_id = _submit(http, receiver, "cancelled", model="slowai/slow-8000")
    wait_task(http, task_id, until={"running"}, timeout=5)
    assert http.delete(f"/v1/tasks/{task_id}", headers=auth()).status_code == 200
    wait_for(lambda: len(receiver.for_task(task_id)) == 1, what="the webhook arrived")
    [delivery] = receiver.for_task(task_id)
    assert _verify(delivery.headers["X-Polyroute-Signature"], delivery.body)
    assert json.loads(delivery.body)["status"] == "cancelled"
    wait_for(lambda: wait_task(http, task_id)["webhook_status"] == "delivered", what="the outcome was recorded")
