"""The generic submit-and-poll waiter against a fake asynchronous upstream, over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from app.gateway.endpoints import pending_reply
from app.tasks.poller import JobFailedError, PendingJob, Poller, PollTimeoutError, pending_job
from tests.fakes.async_jobs import FakeAsyncJobs


@pytest.fixture(scope="module")
def jobs() -> Iterator[FakeAsyncJobs]:
    server = FakeAsyncJobs()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as http:
        yield http


class Sleeps:
    """Records the delays the poller asks for, without waiting them out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


async def _submit(jobs: FakeAsyncJobs, client: httpx.AsyncClient, **spec: Any) -> PendingJob:
    url = jobs.base_url + "/v1/videos"
    resp = await client.post(url, json=spec, headers={"Authorization": "Bearer sk-up"})
    assert resp.status_code == 202
    job = pending_job(resp.status_code, resp.headers, resp.json(), url)
    assert job is not None and job.status == "queued" and job.job_id is not None
    return job


@pytest.mark.parametrize("style", ["location", "status_url", "urls"])
async def test_polls_until_completed_wherever_the_status_url_is_given(
    jobs: FakeAsyncJobs, client: httpx.AsyncClient, style: str
) -> None:
    job = await _submit(jobs, client, style=style, polls=3)
    assert job.status_url.startswith(jobs.base_url + "/")  # relative URLs resolved against the request
    sleeps = Sleeps()
    jobs.reset()
    final = await Poller(client, initial_delay_s=0.5, factor=2, max_delay_s=3, sleep=sleeps).wait(
        job, {"Authorization": "Bearer sk-up"}
    )
    assert final["status"] == "completed" and final["output"]["url"].endswith(f"{job.job_id}.mp4")
    assert jobs.polls_of(str(job.job_id)) == 4  # three pending answers, then the final one
    assert sleeps.delays == [0.5, 1.0, 2.0, 3.0]  # exponential, capped at max_delay_s
    assert all(r.headers["Authorization"] == "Bearer sk-up" for r in jobs.received)


async def test_a_failed_job_raises_with_its_document(jobs: FakeAsyncJobs, client: httpx.AsyncClient) -> None:
    job = await _submit(jobs, client, outcome="failed", polls=1)
    with pytest.raises(JobFailedError) as caught:
        await Poller(client, sleep=Sleeps()).wait(job)
    assert "failed" in str(caught.value)
    assert caught.value.body["error"]["message"] == "render crashed"


async def test_a_job_that_never_finishes_hits_the_time_budget(jobs: FakeAsyncJobs, client: httpx.AsyncClient) -> None:
    # Virtual time: the budget is the poller's arithmetic, not how fast a loaded machine answers
    # (a CI run got one poll in a real 0.4 s).
    now = [0.0]

    async def sleep(delay: float) -> None:
        now[0] += delay
        await asyncio.sleep(0)

    job = await _submit(jobs, client, never=True)
    poller = Poller(client, initial_delay_s=0.02, max_delay_s=0.05, timeout_s=0.4, sleep=sleep, clock=lambda: now[0])
    with pytest.raises(PollTimeoutError, match=r"still pending after 0\.4s"):
        await poller.wait(job)
    assert now[0] == pytest.approx(0.4)  # it waited out the budget and not a moment past it
    assert jobs.polls_of(str(job.job_id)) == 10  # after 0.02, 0.03, 0.045, six times 0.05, the last 0.005


async def test_transient_errors_are_retried_but_bounded(jobs: FakeAsyncJobs, client: httpx.AsyncClient) -> None:
    job = await _submit(jobs, client, errors_first=2, polls=0)
    final = await Poller(client, sleep=Sleeps(), max_errors=3).wait(job)
    assert final["status"] == "completed"
    job = await _submit(jobs, client, errors_first=5, polls=0)
    with pytest.raises(JobFailedError, match="503"):
        await Poller(client, sleep=Sleeps(), max_errors=3).wait(job)


async def test_retry_after_on_a_pending_answer_sets_the_next_delay(
    jobs: FakeAsyncJobs, client: httpx.AsyncClient
) -> None:
    job = await _submit(jobs, client, polls=2, retry_after=7)
    sleeps = Sleeps()
    await Poller(client, initial_delay_s=0.1, max_delay_s=5, sleep=sleeps).wait(job)
    assert sleeps.delays == [0.1, 5, 5]  # Retry-After: 7, capped at max_delay_s


async def test_unreachable_status_url_gives_up(client: httpx.AsyncClient) -> None:
    from tests.fakes.server import free_port

    job = PendingJob(f"http://127.0.0.1:{free_port()}/v1/videos/x", "x", "queued")
    with pytest.raises(JobFailedError, match="unreachable"):
        await Poller(client, sleep=Sleeps(), max_errors=2).wait(job)


def test_pending_job_recognises_only_unfinished_jobs_with_a_status_url() -> None:
    base = "https://api.example.com/v1/videos"
    completion = {"id": "chatcmpl-1", "object": "chat.completion", "choices": []}
    assert pending_job(200, {}, completion, base) is None
    assert pending_job(202, {}, {"id": "job", "status": "queued"}, base) is None  # nowhere to poll
    assert pending_job(200, {}, {"id": "r", "status": "completed", "status_url": "/x"}, base) is None
    job = pending_job(200, {}, {"id": "r", "status": "in_progress", "polling_url": "/v1/jobs/r"}, base)
    assert job == PendingJob("https://api.example.com/v1/jobs/r", "r", "in_progress")
    job = pending_job(202, {"Operation-Location": "https://other.example/op/1"}, None, base)
    assert job == PendingJob("https://other.example/op/1", None, None)


def test_a_location_only_202_keeps_its_status_url_through_the_pipeline() -> None:
    """pending_reply copies the Location header into the body, which is all the task worker sees."""
    raw = b'{"id": "job_1", "object": "image"}'
    body = json.loads(pending_reply(raw, {"Location": "/v1/jobs/job_1", "Content-Type": "application/json"}))
    assert body == {"id": "job_1", "object": "image", "status_url": "/v1/jobs/job_1", "status": "queued"}
    job = pending_job(200, {}, body, "https://api.example/v1/")
    assert job is not None and job.status_url == "https://api.example/v1/jobs/job_1" and job.job_id == "job_1"
    with_url = b'{"id": "j", "status": "in_progress", "urls": {"get": "https://api.example/j"}}'
    assert pending_reply(with_url, {"location": "/elsewhere"}) == with_url  # the body already says where
    assert pending_reply(b"not json", {"location": "/x"}) == b"not json"
    assert pending_reply(b'{"id": "j"}', {}) == b'{"id": "j"}'  # nowhere to poll: left as it came
