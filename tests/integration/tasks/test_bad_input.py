"""Bad task submissions and queries get a problem+json in the OpenAI dialect, and queue nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.integration.tasks.conftest import MAX_BODY, auth, chat

GOOD_BODY = chat()


def _doc(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


CASES = [
    pytest.param(b"{not json", 400, "INVALID_REQUEST", "not valid JSON", id="malformed-json"),
    pytest.param(b"", 400, "INVALID_REQUEST", "empty", id="empty"),
    pytest.param(b"[1, 2]", 400, "INVALID_REQUEST", "JSON object", id="not-an-object"),
    pytest.param(_doc(endpoint="/v1/chat/completions"), 400, "INVALID_REQUEST", "'body'", id="missing-body"),
    pytest.param(_doc(body=GOOD_BODY), 400, "INVALID_REQUEST", "'endpoint'", id="missing-endpoint"),
    pytest.param(_doc(endpoint=5, body=GOOD_BODY), 400, "INVALID_REQUEST", "'endpoint'", id="endpoint-not-a-string"),
    pytest.param(
        _doc(endpoint="/v1/chat/completions", body="hi"), 400, "INVALID_REQUEST", "'body'", id="body-not-an-object"
    ),
    pytest.param(
        _doc(endpoint="/v1/chat/completions", body=GOOD_BODY, webhook_url=7),
        400,
        "INVALID_REQUEST",
        "'webhook_url'",
        id="webhook-not-a-string",
    ),
    pytest.param(
        _doc(endpoint="/v1/chat/completions", body=GOOD_BODY, webhook_url="ftp://hooks.example/x"),
        400,
        "INVALID_REQUEST",
        "http(s)",
        id="webhook-not-http",
    ),
    pytest.param(
        _doc(endpoint="/v1/chat/completions", body=GOOD_BODY, priority=1),
        400,
        "INVALID_REQUEST",
        "priority",
        id="unknown-field",
    ),
    pytest.param(
        _doc(endpoint="/v1/teleport", body=GOOD_BODY), 404, "NOT_FOUND", "/v1/teleport", id="unknown-endpoint"
    ),
    pytest.param(
        _doc(endpoint="/v1/chat/completions", body={"model": "fakeai/gpt-fake"}),
        400,
        "INVALID_REQUEST",
        "messages",
        id="body-fails-the-endpoint",
    ),
    pytest.param(
        _doc(endpoint="/v1/chat/completions", body={**GOOD_BODY, "temperature": "hot"}),
        400,
        "INVALID_REQUEST",
        "temperature",
        id="body-wrong-type",
    ),
    pytest.param(
        _doc(endpoint="/v1/chat/completions", body={**GOOD_BODY, "model": "nope/none"}),
        400,
        "INVALID_MODEL",
        "nope/none",
        id="unknown-model",
    ),
    pytest.param(
        _doc(endpoint="/v1/chat/completions", body=chat(text="x" * (MAX_BODY + 10))),
        413,
        "PAYLOAD_TOO_LARGE",
        "",
        id="oversized",
    ),
]


def _problem(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.headers["x-error-code"] == code
    doc: dict[str, Any] = resp.json()
    assert doc["status"] == status and doc["code"] == code
    assert doc["error"]["code"] == code and doc["error"]["message"] == doc["detail"]  # OpenAI SDK shape
    return doc


@pytest.mark.parametrize(("raw", "status", "code", "mentions"), CASES)
def test_bad_submissions_are_refused_and_queue_nothing(
    http: httpx.Client, raw: bytes, status: int, code: str, mentions: str
) -> None:
    before = http.get("/v1/tasks", params={"limit": 1}, headers=auth()).json()["first_id"]
    resp = http.post("/v1/tasks", content=raw, headers={**auth(), "content-type": "application/json"})
    assert mentions in _problem(resp, status, code)["detail"]
    assert http.get("/v1/tasks", params={"limit": 1}, headers=auth()).json()["first_id"] == before


def test_oversized_prefer_call_is_refused_before_it_is_read(http: httpx.Client) -> None:
    body = chat(text="x" * (MAX_BODY + 10))
    resp = http.post("/v1/chat/completions", json=body, headers={**auth(), "Prefer": "respond-async"})
    _problem(resp, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize(
    ("params", "param"),
    [({"status": "done"}, "status"), ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "x"}, "limit")],
)
def test_bad_list_queries(http: httpx.Client, params: dict[str, str], param: str) -> None:
    doc = _problem(http.get("/v1/tasks", params=params, headers=auth()), 400, "INVALID_REQUEST")
    assert doc["error"]["param"] == param


def test_unknown_task_is_a_404_problem(http: httpx.Client) -> None:
    for method in ("GET", "DELETE"):
        _problem(http.request(method, "/v1/tasks/task_doesnotexist", headers=auth()), 404, "NOT_FOUND")
