"""Run one task in-process through the real pipeline, as its owner's key, and turn the reply into an outcome."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import msgspec

from app.api.problem import Dialect, problem_body
from app.errors import (
    AuthenticationError,
    GatewayError,
    InternalError,
    NotFoundError,
    ProviderError,
    ProviderTimeoutError,
)
from app.gateway.call import Call, Parsed, Reply
from app.gateway.snapshot import CatalogSnapshot, KeyRecord
from app.gateway.tracing import trace_from_header
from app.ids import request_id as new_request_id
from app.providers.registry import adapter_for
from app.tasks.poller import JobFailedError, Poller, PollTimeoutError, pending_job
from app.tasks.store import TaskRecord, TaskStatus

__all__ = ["EndpointSpec", "Outcome", "execute", "key_by_id", "problem_of", "run_body"]

log = logging.getLogger("polyroute.tasks")

Handle = Callable[[Call], Awaitable[Reply]]


class EndpointSpec(Protocol):
    """What a task needs of an inference endpoint (`InferenceRoute` is one)."""

    @property
    def endpoint(self) -> str: ...
    @property
    def dialect(self) -> Dialect: ...
    @property
    def parse(self) -> Callable[[bytes], Parsed]: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    status: TaskStatus
    result: Any = None
    problem: dict[str, Any] | None = None


def problem_of(exc: GatewayError, dialect: Dialect = "openai", trace_id: str | None = None) -> dict[str, Any]:
    """The problem+json document the call would have returned, as a dict to store."""
    doc: dict[str, Any] = msgspec.json.decode(problem_body(exc, dialect, trace_id))
    return doc


def key_by_id(snapshot: CatalogSnapshot, key_id: str | None) -> KeyRecord | None:
    """The live (unrevoked) key with this id."""
    return next((k for k in snapshot.keys.values() if k.id == key_id), None)


def run_body(body: dict[str, Any]) -> dict[str, Any]:
    """A task always runs to completion in one reply: never a stream."""
    out = {k: v for k, v in body.items() if k != "stream_options"}
    out["stream"] = False
    return out


def _owner(task: TaskRecord, snapshot: CatalogSnapshot) -> KeyRecord:
    key = key_by_id(snapshot, task.key_id)
    if key is None:
        raise AuthenticationError("The API key that created this task was revoked or deleted")
    if key.expires_at is not None and time.time() >= key.expires_at:
        raise AuthenticationError("The API key that created this task has expired")
    return key


async def _read(reply: Reply) -> bytes:
    if reply.stream is None:
        return reply.body
    chunks = [chunk async for chunk in reply.stream]
    return b"".join(chunks)


def _decode(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {"text": body.decode("utf-8", "replace")}


async def execute(
    task: TaskRecord,
    *,
    handle: Handle,
    snapshot: CatalogSnapshot,
    endpoint: EndpointSpec | None,
    poller: Poller | None = None,
) -> Outcome:
    """Run the task's call; a GatewayError becomes a failed outcome carrying its problem document."""
    trace = trace_from_header(task.headers.get("traceparent"))
    dialect: Dialect = endpoint.dialect if endpoint is not None else "openai"
    try:
        if endpoint is None:
            raise NotFoundError(f"The endpoint '{task.endpoint}' is not served any more")
        key = _owner(task, snapshot)
        raw = msgspec.json.encode(run_body(task.body))
        request_id = new_request_id()
        started = time.perf_counter()
        call = Call(endpoint.endpoint, dialect, dict(task.headers), raw, endpoint.parse, trace, request_id, started)
        call.key = key
        reply = await handle(call)
        result = _decode(await _read(reply))
        if reply.status >= 400:
            raise InternalError(f"The call answered {reply.status}")
        result = await _settle(reply, result, snapshot, poller)
    except GatewayError as exc:
        return Outcome("failed", problem=problem_of(exc, dialect, trace.trace_id))
    return Outcome("succeeded", result=result)


async def _settle(reply: Reply, result: Any, snapshot: CatalogSnapshot, poller: Poller | None) -> Any:
    """Poll an upstream that answered with a pending job until it finishes (same origin as the provider only)."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in reply.headers}
    provider = snapshot.providers.get(headers.get("x-polyroute-provider", ""))
    if poller is None or provider is None:
        return result
    job = pending_job(reply.status, headers, result, provider.base_url.rstrip("/") + "/")
    if job is None:
        return result
    if _origin(job.status_url) != _origin(provider.base_url):
        # The provider's credentials only ever go to the provider's own host.
        log.warning("not polling %s: not on the provider's host", job.status_url)
        return result
    try:
        auth = adapter_for(provider.kind).auth_headers(provider)
    except KeyError:
        auth = {}
    try:
        return await poller.wait(job, {**provider.headers, **auth})
    except PollTimeoutError as exc:
        raise ProviderTimeoutError(str(exc)) from None
    except JobFailedError as exc:
        raise ProviderError(str(exc), extra={"job": exc.body} if exc.body is not None else None) from None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port
