"""Task lifecycle through the real server: succeed, fail, cancel, ownership, listing, Prefer: respond-async."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.fakes.async_jobs import FakeAsyncJobs
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY
from tests.integration.tasks.conftest import OTHER_KEY, SlowUpstream, auth, chat, wait_for, wait_task

VARYING = {"id", "created", "latency_ms"}
"""What differs between two answers to the same request."""


def _submit(http: httpx.Client, body: dict[str, Any], key: str = API_KEY, **extra: Any) -> dict[str, Any]:
    resp = http.post("/v1/tasks", json={"endpoint": "/v1/chat/completions", "body": body, **extra}, headers=auth(key))
    assert resp.status_code == 202, resp.text
    task: dict[str, Any] = resp.json()
    assert resp.headers["location"] == f"/v1/tasks/{task['id']}"
    assert task["status"] == "queued" and task["id"].startswith("task_") and task["object"] == "task"
    return task


def _stable(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in VARYING}


def test_a_task_succeeds_with_what_a_direct_call_returns(
    http: httpx.Client, fake_openai: FakeOpenAI, fakes_reset: None
) -> None:
    direct = http.post("/v1/chat/completions", json=chat(), headers=auth())
    assert direct.status_code == 200
    task = _submit(http, chat(stream=True, stream_options={"include_usage": True}))
    done = wait_task(http, task["id"])
    assert done["status"] == "succeeded", done
    assert _stable(done["result"]) == _stable(direct.json())
    assert done["problem"] is None and done["attempts"] == 1
    assert done["endpoint"] == "/v1/chat/completions" and done["model"] == "fakeai/gpt-fake"
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]
    assert abs(done["expires_at"] - done["finished_at"] - 24 * 3600) <= 1  # default retention
    upstream = fake_openai.requests_for("/chat/completions")[-1].json()
    assert upstream["stream"] is False and "stream_options" not in upstream  # a task never streams
    assert "Authorization" not in str(done)


def test_an_upstream_failure_fails_the_task_with_the_calls_problem(http: httpx.Client, fakes_reset: None) -> None:
    direct = http.post("/v1/chat/completions", json=chat("fakeai/fake-500"), headers=auth())
    assert direct.status_code == 502
    done = wait_task(http, _submit(http, chat("fakeai/fake-500"))["id"])
    assert done["status"] == "failed" and done["result"] is None
    problem = done["problem"]
    assert problem["status"] == 502 and problem["code"] == "PROVIDER_ERROR"
    assert problem["error"]["code"] == direct.json()["error"]["code"] == "PROVIDER_ERROR"
    assert problem["type"] == direct.json()["type"] and problem["title"] == direct.json()["title"]


def test_cancelling_a_running_task_stops_its_upstream_call(http: httpx.Client, slow: SlowUpstream) -> None:
    text = f"cancel me {time.monotonic()}"
    task = _submit(http, chat("slowai/slow-8000", text=text))
    wait_task(http, task["id"], until={"running"}, timeout=5)
    wait_for(lambda: slow.in_flight() == 1, what="the upstream call started")
    started = time.monotonic()
    resp = http.delete(f"/v1/tasks/{task['id']}", headers=auth())
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    wait_for(lambda: text in slow.hung_up, timeout=3, what="the gateway hung up on the upstream")
    assert time.monotonic() - started < 3 and text not in slow.answered  # well before the 8 s answer
    again = http.delete(f"/v1/tasks/{task['id']}", headers=auth())
    assert again.status_code == 409 and again.json()["code"] == "CONFLICT"
    assert again.headers["content-type"] == "application/problem+json"
    time.sleep(0.5)
    final = wait_task(http, task["id"])
    assert final["status"] == "cancelled" and final["result"] is None and final["finished_at"] is not None


def test_cancelling_a_finished_task_is_a_conflict(http: httpx.Client, fakes_reset: None) -> None:
    task = _submit(http, chat())
    assert wait_task(http, task["id"])["status"] == "succeeded"
    resp = http.delete(f"/v1/tasks/{task['id']}", headers=auth())
    assert resp.status_code == 409 and "succeeded" in resp.json()["detail"]
    assert wait_task(http, task["id"])["status"] == "succeeded"


def test_a_key_sees_only_its_own_tasks(http: httpx.Client, fakes_reset: None) -> None:
    task = _submit(http, chat())
    for method in ("GET", "DELETE"):
        resp = http.request(method, f"/v1/tasks/{task['id']}", headers=auth(OTHER_KEY))
        assert resp.status_code == 404 and resp.json()["code"] == "NOT_FOUND"
        assert resp.json()["error"]["type"] == "not_found_error"
    listed = http.get("/v1/tasks", params={"limit": 100}, headers=auth(OTHER_KEY)).json()
    assert task["id"] not in {t["id"] for t in listed["data"]}
    for headers in ({}, auth("sk-poly-wrong-0123456789abcdefghijk")):
        assert http.get(f"/v1/tasks/{task['id']}", headers=headers).status_code == 401
        assert http.get("/v1/tasks", headers=headers).status_code == 401
        assert http.post("/v1/tasks", json={}, headers=headers).status_code == 401
    ok = http.get(f"/v1/tasks/{task['id']}", headers={"X-API-Key": API_KEY})
    assert ok.status_code == 200 and ok.json()["id"] == task["id"]


def test_list_pages_newest_first_and_filters_by_status(http: httpx.Client, fakes_reset: None) -> None:
    ids = [_submit(http, chat(text=f"n{i}"), key=OTHER_KEY)["id"] for i in range(3)]
    for task_id in ids:
        wait_task(http, task_id, key=OTHER_KEY)
    first = http.get("/v1/tasks", params={"limit": 2}, headers=auth(OTHER_KEY)).json()
    assert first["object"] == "list" and first["has_more"] is True
    assert [t["id"] for t in first["data"]] == [ids[2], ids[1]] and first["last_id"] == ids[1]
    rest = http.get("/v1/tasks", params={"limit": 2, "after": first["last_id"]}, headers=auth(OTHER_KEY)).json()
    assert rest["data"][0]["id"] == ids[0]
    done = http.get("/v1/tasks", params={"status": "succeeded"}, headers=auth(OTHER_KEY)).json()
    assert set(ids) <= {t["id"] for t in done["data"]}
    assert all(t["status"] == "succeeded" for t in done["data"])
    queued = http.get("/v1/tasks", params={"status": "queued"}, headers=auth(OTHER_KEY)).json()
    assert not set(ids) & {t["id"] for t in queued["data"]}
    # the other prefixes serve the same resource
    assert http.get(f"/openai/v1/tasks/{ids[0]}", headers=auth(OTHER_KEY)).json()["id"] == ids[0]


def test_prefer_respond_async_on_chat_completions_returns_a_task(http: httpx.Client, fakes_reset: None) -> None:
    headers = {**auth(), "Prefer": "respond-async, wait=5"}
    resp = http.post("/v1/chat/completions", json=chat(text="later please"), headers=headers)
    assert resp.status_code == 202, resp.text
    assert resp.headers["preference-applied"] == "respond-async"
    task = resp.json()
    assert resp.headers["location"] == f"/v1/tasks/{task['id']}" and task["status"] == "queued"
    done = http.get(resp.headers["location"], headers=auth())
    done_doc = wait_task(http, done.json()["id"])
    assert (
        done_doc["status"] == "succeeded" and "later please" in done_doc["result"]["choices"][0]["message"]["content"]
    )
    # without the preference (or with another one) the call stays synchronous
    sync = http.post("/v1/chat/completions", json=chat(), headers={**auth(), "Prefer": "return=minimal"})
    assert sync.status_code == 200 and sync.json()["object"] == "chat.completion"


def test_prefer_respond_async_still_rejects_bad_calls_synchronously(http: httpx.Client, fakes_reset: None) -> None:
    prefer = {"Prefer": "respond-async"}
    before = http.get("/v1/tasks", params={"limit": 100}, headers=auth()).json()["data"]
    cases = [
        (b"{not json", auth(), 400, "INVALID_REQUEST"),
        (b'{"model": "fakeai/gpt-fake"}', auth(), 400, "INVALID_REQUEST"),
        (b'{"model": "nope/none", "messages": [{"role": "user", "content": "x"}]}', auth(), 400, "INVALID_MODEL"),
        (b'{"model": "fakeai/gpt-fake", "messages": []}', {}, 401, "AUTHENTICATION_ERROR"),
    ]
    for raw, headers, status, code in cases:
        resp = http.post(
            "/v1/chat/completions", content=raw, headers={**headers, **prefer, "content-type": "application/json"}
        )
        assert (resp.status_code, resp.json()["code"]) == (status, code), resp.text
        assert resp.headers["content-type"] == "application/problem+json"
        assert "preference-applied" not in resp.headers
    after = http.get("/v1/tasks", params={"limit": 100}, headers=auth()).json()["data"]
    assert [t["id"] for t in after] == [t["id"] for t in before]  # nothing was queued


def test_prefer_respond_async_keeps_the_callers_dialect(http: httpx.Client, fakes_reset: None) -> None:
    """Messages and Responses calls become tasks too; results and problems stay in their dialect."""
    prefer = {**auth(), "Prefer": "respond-async"}
    body = {"model": "fakeai/gpt-fake", "max_tokens": 50, "messages": [{"role": "user", "content": "async msg"}]}
    resp = http.post("/v1/messages", json=body, headers=prefer)
    assert resp.status_code == 202, resp.text
    done = wait_task(http, resp.json()["id"])
    assert done["status"] == "succeeded" and done["endpoint"] == "/v1/messages"
    assert done["result"]["type"] == "message" and done["result"]["content"][0]["text"].endswith("async msg")
    failing = {**body, "model": "fakeai/fake-500"}
    done = wait_task(http, http.post("/v1/messages", json=failing, headers=prefer).json()["id"])
    assert done["status"] == "failed" and done["problem"]["code"] == "PROVIDER_ERROR"
    assert done["problem"]["error"]["type"] == "api_error" and "details" in done["problem"]["error"]  # Anthropic's
    resp = http.post("/v1/responses", json={"model": "backup/gpt-fake", "input": "async resp"}, headers=prefer)
    assert resp.status_code == 202, resp.text
    done = wait_task(http, resp.json()["id"])
    assert done["status"] == "succeeded" and done["result"]["object"] == "response"
    assert done["result"]["output"][-1]["content"][0]["text"].endswith("async resp")
    resp = http.post("/v1/completions", json={"model": "fakeai/gpt-fake", "prompt": "async cmpl"}, headers=prefer)
    assert resp.status_code == 202, resp.text
    done = wait_task(http, resp.json()["id"])
    assert done["status"] == "succeeded" and done["endpoint"] == "/v1/completions"
    assert done["result"]["object"] == "text_completion" and done["result"]["choices"][0]["text"].endswith("async cmpl")


def test_an_asynchronous_upstream_is_polled_until_its_job_ends(http: httpx.Client, jobs: FakeAsyncJobs) -> None:
    """An image API that answers 202 + Location: the worker polls it with the provider's credentials."""
    jobs.reset()
    body = {"model": "asyncai/async-image", "prompt": "a red fox", "polls": 2}
    resp = http.post("/v1/tasks", json={"endpoint": "/v1/images/generations", "body": body}, headers=auth())
    assert resp.status_code == 202, resp.text
    done = wait_task(http, resp.json()["id"], timeout=30)
    assert done["status"] == "succeeded", done
    job_id = done["result"]["id"]
    assert done["result"]["status"] == "completed"
    assert done["result"]["output"]["url"].endswith(f"/files/{job_id}.mp4")
    assert jobs.polls_of(job_id) == 3  # two "in_progress" answers, then the final one
    polls = [r for r in jobs.received if r.method == "GET" and r.path == f"/v1/videos/{job_id}"]
    assert len(polls) == 3 and all(r.headers["Authorization"] == "Bearer sk-async-upstream" for r in polls)
    assert API_KEY not in str([dict(r.headers) for r in jobs.received])
    failing = {"model": "asyncai/async-image", "prompt": "x", "polls": 1, "outcome": "failed", "style": "status_url"}
    resp = http.post("/v1/tasks", json={"endpoint": "/v1/images/generations", "body": failing}, headers=auth())
    done = wait_task(http, resp.json()["id"], timeout=30)
    assert done["status"] == "failed" and done["problem"]["code"] == "PROVIDER_ERROR"
    assert done["problem"]["job"]["error"]["message"] == "render crashed"


def test_a_task_is_attributed_like_a_direct_call(http: httpx.Client, tasks_gw: Any, fakes_reset: None) -> None:
    """The end-user and tags headers of the submission are kept for the task's run; a malformed one is a 400 now."""
    labels = {"x-polyroute-end-user": "task-user-7", "x-polyroute-tags": "via:task"}
    resp = http.post(
        "/v1/tasks", json={"endpoint": "/v1/chat/completions", "body": chat()}, headers={**auth(), **labels}
    )
    assert resp.status_code == 202, resp.text
    assert wait_task(http, resp.json()["id"])["status"] == "succeeded"
    with tasks_gw.admin() as admin:

        def logged() -> bool:
            rows = admin.get("/v1/requests", params={"tag": "via:task"}).json()["data"]
            return len(rows) == 1 and rows[0]["end_user"] == "task-user-7"

        wait_for(logged, what="the task's usage row, attributed")
    bad = http.post(
        "/v1/tasks",
        json={"endpoint": "/v1/chat/completions", "body": chat()},
        headers={**auth(), "x-polyroute-tags": "not a tag"},
    )
    assert bad.status_code == 400 and bad.headers["x-error-code"] == "INVALID_REQUEST"
    assert "x-polyroute-tags" in bad.json()["error"]["message"]
