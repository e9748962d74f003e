"""One task run through a stand-in pipeline: the owner's key, a forced non-stream body, problems, polling."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest

from app.catalog.specs import Limits
from app.errors import ProviderError
from app.gateway.call import Call, Parsed, Reply
from app.gateway.snapshot import CatalogSnapshot, KeyRecord, ProviderEntry
from app.tasks.execute import execute, run_body
from app.tasks.poller import Poller
from app.tasks.store import TaskRecord
from tests.entries import provider_entry
from tests.fakes.async_jobs import FakeAsyncJobs


def _never_parsed(raw: bytes) -> Parsed:
    raise AssertionError("the stand-in pipeline does not parse")


class Chat:
    endpoint = "chat.completions"
    dialect = "openai"
    parse = staticmethod(_never_parsed)


KEY = KeyRecord(
    id="key-1", name="k", prefix="sk-poly", plan=None, allowed_models=None, limits=Limits(), expires_at=None
)
TRACEPARENT = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


def _snapshot(*keys: KeyRecord, providers: dict[str, ProviderEntry] | None = None) -> CatalogSnapshot:
    empty = CatalogSnapshot.empty()
    return replace(empty, keys={f"hash-{k.id}": k for k in keys}, providers=providers or {})


def _task(**body: Any) -> TaskRecord:
    doc = {"model": "p/m", "messages": [{"role": "user", "content": "hi"}], **body}
    return TaskRecord(
        id="task_1",
        key_id="key-1",
        endpoint="/v1/chat/completions",
        body=doc,
        headers={"traceparent": TRACEPARENT},
        status="running",
        created_at=datetime.now(UTC),
    )


class Pipeline:
    """Records the call and answers with a canned reply (or raises)."""

    def __init__(self, reply: Reply | Exception) -> None:
        self.reply = reply
        self.calls: list[Call] = []

    async def __call__(self, call: Call) -> Reply:
        self.calls.append(call)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def _json(status: int, doc: Any, **headers: str) -> Reply:
    pairs = [(b"content-type", b"application/json")] + [(k.encode(), v.encode()) for k, v in headers.items()]
    return Reply(status, pairs, msgspec.json.encode(doc))


async def test_runs_as_the_owner_without_streaming() -> None:
    pipeline = Pipeline(_json(200, {"object": "chat.completion", "choices": []}))
    task = _task(stream=True, stream_options={"include_usage": True})
    outcome = await execute(task, handle=pipeline, snapshot=_snapshot(KEY), endpoint=Chat())
    assert outcome.status == "succeeded" and outcome.result == {"object": "chat.completion", "choices": []}
    [call] = pipeline.calls
    assert call.key == KEY and call.endpoint == "chat.completions" and call.trace.trace_id == "a" * 32
    assert msgspec.json.decode(call.raw) == run_body(task.body)
    assert msgspec.json.decode(call.raw)["stream"] is False and "stream_options" not in msgspec.json.decode(call.raw)


@pytest.mark.parametrize(
    "snapshot",
    [_snapshot(), _snapshot(replace(KEY, expires_at=time.time() - 1))],
    ids=["revoked", "expired"],
)
async def test_a_revoked_or_expired_owner_fails_with_401(snapshot: CatalogSnapshot) -> None:
    pipeline = Pipeline(_json(200, {}))
    outcome = await execute(_task(), handle=pipeline, snapshot=snapshot, endpoint=Chat())
    assert outcome.status == "failed" and outcome.result is None and pipeline.calls == []
    assert outcome.problem is not None
    assert (outcome.problem["status"], outcome.problem["code"]) == (401, "AUTHENTICATION_ERROR")
    assert outcome.problem["trace_id"] == "a" * 32


async def test_a_pipeline_error_becomes_the_problem_document() -> None:
    error = ProviderError("every candidate failed", extra={"attempts": [{"provider": "p"}]})
    outcome = await execute(_task(), handle=Pipeline(error), snapshot=_snapshot(KEY), endpoint=Chat())
    assert outcome.status == "failed" and outcome.problem is not None
    assert outcome.problem["status"] == 502 and outcome.problem["attempts"] == [{"provider": "p"}]
    assert outcome.problem["error"] == {
        "message": "every candidate failed",
        "type": "api_error",
        "code": "PROVIDER_ERROR",
        "param": None,
    }


async def test_an_endpoint_no_longer_served_fails_with_404() -> None:
    outcome = await execute(_task(), handle=Pipeline(_json(200, {})), snapshot=_snapshot(KEY), endpoint=None)
    assert outcome.status == "failed" and outcome.problem is not None and outcome.problem["status"] == 404


@pytest.fixture(scope="module")
def jobs() -> Iterator[FakeAsyncJobs]:
    server = FakeAsyncJobs()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def poller() -> AsyncIterator[Poller]:
    async def no_wait(_: float) -> None:
        return None

    async with httpx.AsyncClient(timeout=5) as client:
        yield Poller(client, sleep=no_wait)


def _provider(base_url: str) -> ProviderEntry:
    return provider_entry(name="vid", base_url=base_url, api_key="sk-upstream-video", headers={"x-extra": "1"})


async def test_a_pending_upstream_job_is_polled_to_completion(jobs: FakeAsyncJobs, poller: Poller) -> None:
    submitted = httpx.post(jobs.base_url + "/v1/videos", json={"polls": 2})
    location = submitted.headers["location"]
    reply = _json(202, submitted.json(), location=location, **{"x-polyroute-provider": "vid"})
    snapshot = _snapshot(KEY, providers={"vid": _provider(jobs.base_url + "/v1")})
    jobs.reset()
    outcome = await execute(_task(), handle=Pipeline(reply), snapshot=snapshot, endpoint=Chat(), poller=poller)
    assert outcome.status == "succeeded" and outcome.result["status"] == "completed"
    assert len(jobs.received) == 3
    for received in jobs.received:
        headers = {k.lower(): v for k, v in received.headers.items()}
        assert headers["authorization"] == "Bearer sk-upstream-video" and headers["x-extra"] == "1"


async def test_a_failed_upstream_job_fails_the_task(jobs: FakeAsyncJobs, poller: Poller) -> None:
    submitted = httpx.post(jobs.base_url + "/v1/videos", json={"polls": 1, "outcome": "failed", "style": "urls"})
    reply = _json(202, submitted.json(), **{"x-polyroute-provider": "vid"})
    snapshot = _snapshot(KEY, providers={"vid": _provider(jobs.base_url + "/v1")})
    outcome = await execute(_task(), handle=Pipeline(reply), snapshot=snapshot, endpoint=Chat(), poller=poller)
    assert outcome.status == "failed" and outcome.problem is not None
    assert outcome.problem["code"] == "PROVIDER_ERROR" and outcome.problem["job"]["status"] == "failed"


async def test_credentials_never_go_to_a_status_url_on_another_host(jobs: FakeAsyncJobs, poller: Poller) -> None:
    submitted = httpx.post(jobs.base_url + "/v1/videos", json={"polls": 1, "style": "urls"})  # an absolute URL
    reply = _json(202, submitted.json(), **{"x-polyroute-provider": "vid"})
    snapshot = _snapshot(KEY, providers={"vid": _provider("https://api.elsewhere.example/v1")})
    jobs.reset()
    outcome = await execute(_task(), handle=Pipeline(reply), snapshot=snapshot, endpoint=Chat(), poller=poller)
    assert outcome.status == "succeeded" and outcome.result["status"] == "queued"  # returned as it came
    assert jobs.received == []
