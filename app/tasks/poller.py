"""Wait for an upstream that answers "accepted, poll me" (video and some image APIs): submit + poll, bounded.

`pending_job` recognises such a reply: a 202, or a body whose `status` is still pending, that says
where to poll (a `Location` / `Operation-Location` header, or `status_url`, `polling_url`,
`poll_url` or `urls.get` in the body). `Poller.wait` then GETs that URL with growing delays
(honouring `Retry-After`) until the job leaves its pending states or the time budget runs out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

__all__ = [
    "FAILED_STATES",
    "PENDING_STATES",
    "JobFailedError",
    "PendingJob",
    "PollTimeoutError",
    "Poller",
    "pending_job",
]

PENDING_STATES = frozenset(
    {"queued", "pending", "in_progress", "in_queue", "processing", "running", "starting", "submitted", "accepted"}
)
FAILED_STATES = frozenset({"failed", "failure", "error", "errored", "cancelled", "canceled", "expired", "rejected"})
_URL_HEADERS = ("location", "operation-location", "azure-asyncoperation")
_URL_FIELDS = ("status_url", "polling_url", "poll_url")
_TRANSIENT = {408, 429, 500, 502, 503, 504}


@dataclass(frozen=True, slots=True)
class PendingJob:
    """An upstream job that is not done yet, and where to ask about it."""

    status_url: str
    job_id: str | None
    status: str | None


class JobFailedError(Exception):
    """The upstream job ended in a failed state, or its status URL refused us."""

    def __init__(self, message: str, body: Any = None, status: int | None = None) -> None:
        super().__init__(message)
        self.body = body
        self.status = status


class PollTimeoutError(Exception):
    """The job was still pending when the time budget ran out."""


def _state(body: Any) -> str | None:
    if isinstance(body, dict):
        value = body.get("status") or body.get("state")
        if isinstance(value, str):
            return value.strip().lower()
    return None


def _status_url(headers: Mapping[str, str], body: Any) -> str | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in _URL_HEADERS:
        if lowered.get(name):
            return lowered[name]
    if not isinstance(body, dict):
        return None
    for name in _URL_FIELDS:
        value = body.get(name)
        if isinstance(value, str) and value:
            return value
    urls = body.get("urls")
    if isinstance(urls, dict) and isinstance(urls.get("get"), str):
        return str(urls["get"])
    return None


def pending_job(status: int, headers: Mapping[str, str], body: Any, request_url: str) -> PendingJob | None:
    """The job to poll when the reply is an accepted-but-unfinished job with a status URL; else None."""
    state = _state(body)
    if status != 202 and state not in PENDING_STATES:
        return None
    url = _status_url(headers, body)
    if url is None:
        return None
    job_id = body.get("id") if isinstance(body, dict) else None
    return PendingJob(urljoin(request_url, url), job_id if isinstance(job_id, str) else None, state)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@dataclass
class Poller:
    """Polls status URLs with exponential backoff, bounded by `timeout_s` and `max_errors` in a row."""

    client: httpx.AsyncClient
    initial_delay_s: float = 1.0
    max_delay_s: float = 15.0
    factor: float = 1.5
    timeout_s: float = 1800.0
    max_errors: int = 5
    """Consecutive transient failures (unreachable, 429, 5xx) before giving up."""
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic

    async def wait(self, job: PendingJob, headers: Mapping[str, str] | None = None) -> Any:
        """The job's final status document; raises JobFailedError or PollTimeoutError."""
        deadline = self.clock() + self.timeout_s
        delay, errors = self.initial_delay_s, 0
        while True:
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise PollTimeoutError(f"job {job.job_id or job.status_url} still pending after {self.timeout_s:g}s")
            await self.sleep(min(delay, remaining))
            delay = min(self.max_delay_s, delay * self.factor)
            try:
                resp = await self.client.get(job.status_url, headers=dict(headers or {}))
            except httpx.HTTPError as exc:
                errors += 1
                if errors >= self.max_errors:
                    raise JobFailedError(f"status URL unreachable: {type(exc).__name__}") from exc
                continue
            if resp.status_code in _TRANSIENT:
                errors += 1
                if errors >= self.max_errors:
                    raise JobFailedError(f"status URL answered {resp.status_code}", status=resp.status_code)
                delay = min(self.max_delay_s, _retry_after(resp.headers) or delay)
                continue
            errors = 0
            done = self._settled(resp)
            if done is not None:
                return done
            delay = min(self.max_delay_s, _retry_after(resp.headers) or delay)

    def _settled(self, resp: httpx.Response) -> Any:
        """The final document when the job is over; None while it is still pending."""
        if resp.status_code >= 300:
            raise JobFailedError(f"status URL answered {resp.status_code}", resp.text[:2000], resp.status_code)
        try:
            body = resp.json()
        except ValueError:
            raise JobFailedError("status URL answered with a body that is not JSON", resp.text[:2000]) from None
        state = _state(body)
        if state in FAILED_STATES:
            raise JobFailedError(f"upstream job ended '{state}'", body, resp.status_code)
        if resp.status_code == 202 or state in PENDING_STATES:
            return None
        return body
