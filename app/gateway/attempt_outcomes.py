"""What an attempt ends in: its record, an answer or a started stream, or a classified failure, and
the one error the caller sees when every attempt failed. Pure: no I/O (the loop is app.gateway.attempts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from app.accounting.events import Usage
from app.catalog.specs import ModelSpec
from app.errors import (
    ContextLengthExceededError,
    GatewayError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    ServiceUnavailableError,
    UpstreamStatusError,
)
from app.gateway.exchange import Served, StreamRelay
from app.gateway.snapshot import ProviderEntry
from app.gateway.sse import StreamSplitter
from app.gateway.upstream import UpstreamResponse
from app.observability.logging import redact
from app.providers.base import ProviderAdapter, UpstreamError
from strategies.base import Candidate

__all__ = [
    "AttemptRecord",
    "Completed",
    "Failure",
    "FailureClass",
    "StreamStarted",
    "Target",
    "caller_error",
    "exhausted",
    "status_failure",
]

FailureClass = Literal["retryable", "stale", "busy", "timeout", "provider", "context", "caller"]


@dataclass(frozen=True, slots=True)
class Target:
    """A ranked candidate with what it takes to call it."""

    candidate: Candidate
    provider: ProviderEntry
    adapter: ProviderAdapter
    model: ModelSpec

    @property
    def key(self) -> str:
        return self.candidate.key


@dataclass(slots=True)
class AttemptRecord:
    provider: str
    model: str
    outcome: str
    """ok | error | timeout | skipped | cancelled (lost a hedge race)"""
    status: int | None = None
    error: str | None = None
    duration_ms: float = 0.0
    retry: int = 0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"provider": self.provider, "model": self.model, "outcome": self.outcome}
        if self.status is not None:
            out["status"] = self.status
        if self.error:
            out["error"] = redact(self.error)  # an upstream may echo a credential back in its error
        out["duration_ms"] = round(self.duration_ms, 1)
        if self.retry:
            out["retry"] = self.retry
        return out


@dataclass(slots=True)
class Completed:
    body: bytes
    usage: Usage
    served: Served
    target: Target
    upstream_ms: float


@dataclass(slots=True)
class StreamStarted:
    """A stream whose first output is in hand; nothing has reached the client yet."""

    response: UpstreamResponse
    relay: StreamRelay
    splitter: StreamSplitter
    head: bytes
    served: Served
    target: Target
    ttft_ms: float
    started: float


@dataclass(slots=True)
class Failure(Exception):
    """Why one attempt did not give an answer; its class decides what the loop does next."""

    cls: FailureClass
    message: str
    status: int | None = None
    retry_after: float | None = None
    upstream: UpstreamError | None = None


def status_failure(provider: str, status: int, parsed: UpstreamError, retry_after: str | None) -> Failure:
    """An upstream's non-200 answer, classified (see the module docstring of app.gateway.attempts)."""
    message = f"{provider} returned HTTP {status}: {parsed.message}"
    if status in (408, 424, 429) or status >= 500:  # 424: Bedrock's model failed (ModelErrorException)
        return Failure("retryable", message, status, _seconds(retry_after), parsed)
    if status in (401, 403, 404):
        return Failure("provider", message, status, None, parsed)
    if parsed.context_length:
        return Failure("context", message, status, None, parsed)
    return Failure("caller", parsed.message, status, None, parsed)


def caller_error(failure: Failure) -> GatewayError:
    """The caller's own mistake, as the upstream put it: returned without trying another target."""
    upstream = failure.upstream
    return UpstreamStatusError(
        failure.message,
        upstream_status=failure.status or 400,
        upstream_code=upstream.code if upstream else None,
    )


def exhausted(failures: list[Failure], records: list[AttemptRecord]) -> GatewayError:
    """Every target failed or was skipped: one error that says why, with every attempt listed."""
    attempts = [r.as_dict() for r in records]
    if not failures:
        return ProviderError("No upstream target is available for this model", extra={"attempts": attempts})
    if all(f.cls == "busy" for f in failures):
        return ServiceUnavailableError(
            "Every upstream for this model is at its concurrency limit: " + failures[-1].message,
            headers={"Retry-After": "1"},
            extra={"attempts": attempts},
        )
    if all(f.status == 429 for f in failures):
        waits = [f.retry_after for f in failures if f.retry_after is not None]
        return RateLimitedError(
            "Every upstream for this model is rate limiting: " + failures[-1].message,
            retry_after=min(waits) if waits else 1.0,
        )
    summary = "; ".join(f"{r.provider}/{r.model}: {r.error or r.outcome}" for r in records if r.outcome != "ok")
    if all(f.cls == "timeout" for f in failures):
        return ProviderTimeoutError(f"Every upstream timed out: {summary}", extra={"attempts": attempts})
    if any(f.cls == "context" for f in failures):
        return ContextLengthExceededError(
            f"The request does not fit any candidate's context window: {summary}", extra={"attempts": attempts}
        )
    return ProviderError(f"Every upstream failed: {summary}", extra={"attempts": attempts})


def _seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds (the HTTP-date form reads as none)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
