"""The attempt loop: retry a target with backoff, fail over to the next, never past the first byte.

Failure classes:
  retryable  connect error, reset, 408, 429, 5xx, a 200 that is not an answer -> same target
             again (backoff, Retry-After honoured up to a cap), then the next candidate
  timeout    no first byte / first token in time -> next candidate at once
  provider   upstream 401/403/404 (our credentials or config) -> next candidate at once
  context    context-length error -> only candidates with a larger window
  caller     any other 4xx, content-policy refusals included -> returned at once; on a
             continuation (mid-stream recovery) it means this target refused the prefill,
             so the next candidate is tried instead
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.catalog.specs import RouteParams
from app.gateway.attempt_outcomes import (
    AttemptRecord,
    Completed,
    Failure,
    StreamStarted,
    Target,
    caller_error,
    exhausted,
    status_failure,
)
from app.gateway.endpoints import pending_reply
from app.gateway.exchange import BadUpstreamReply, BinaryRelay, Exchange, Served, UpstreamStreamError
from app.gateway.sse import SSESplitter, StreamSplitter
from app.gateway.tracing import TraceContext
from app.gateway.upstream import (
    UpstreamBusy,
    UpstreamFailure,
    UpstreamPool,
    UpstreamResponse,
    UpstreamStale,
    UpstreamTimeout,
)
from app.health.scores import HealthRegistry
from app.observability.tracing import attempt_span
from app.providers.anthropic import merged_betas
from app.providers.aws_eventstream import BedrockStreamSplitter
from app.providers.base import ProviderAdapter
from app.providers.bedrock import EVENTSTREAM, BedrockAdapter

BETA_HEADER_KINDS = frozenset({"anthropic", "vertex-anthropic"})
"""Kinds that read the caller's `anthropic-beta` from the header (Bedrock reads it from the body)."""

__all__ = ["AttemptLoop"]

MAX_ERROR_BODY = 256 * 1024
MIN_ATTEMPT_S = 0.05
"""Less time than this left under the route's deadline: no upstream can answer, so send nothing more
(a timer may fire a hair before the deadline, which used to start a doomed, billable attempt)."""


@dataclass(slots=True)
class AttemptLoop:
    """Runs one request's attempts over ranked targets; records every attempt for explain and the log."""

    pool: UpstreamPool
    health: HealthRegistry
    exchanges: Callable[[ProviderAdapter], Exchange]
    """Upstream adapter -> the exchange for this request (targets of one route may differ)."""
    params: RouteParams
    trace: TraceContext
    stream: bool
    records: list[AttemptRecord] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic
    deadline: float | None = None
    hedged: bool = False
    continuation: bool = False
    """A mid-stream recovery: the caller's request was already accepted upstream, so a 4xx here
    is this target refusing the assistant prefill, not the caller's fault; try the next one."""
    anthropic_beta: str | None = None
    """The caller's `anthropic-beta` header: Anthropic upstreams get it, with the provider's own betas."""

    async def run(self, targets: list[Target]) -> Completed | StreamStarted:
        if self.params.deadline_s is not None:
            self.deadline = self.clock() + self.params.deadline_s
        failures: list[Failure] = []
        min_window: int | None = None
        tried = False
        delay = self._hedge_delay(targets)
        if delay is not None and len(targets) >= 2 and self.health.allow(targets[0].key):
            tried = True
            result = await self._race(targets[0], targets[1], delay, failures)
            if result is not None:
                return result
            targets = targets[2:]
        for index, target in enumerate(targets):
            if min_window is not None and (target.model.context_window or 0) <= min_window:
                self._skip(target, "context window too small")
                continue
            last_chance = not tried and index == len(targets) - 1
            cap = target.provider.max_concurrent
            if not last_chance and self.pool.slots.full(target.provider.name, cap):
                self._skip(target, f"all {cap} of its concurrent calls in use")
                continue
            # Every breaker open: one attempt on the last target beats failing without trying.
            if not self.health.allow(target.key) and not last_chance:
                self._skip(target, "circuit breaker open")
                continue
            tried = True
            try:
                return await self._on_target(target)
            except Failure as failure:
                failures.append(failure)
                if failure.cls == "context":
                    if not target.model.context_window:
                        break
                    min_window = max(min_window or 0, target.model.context_window)
            remaining = self._remaining()
            if remaining is not None and remaining < MIN_ATTEMPT_S:
                break
        raise exhausted(failures, self.records)

    def _hedge_delay(self, targets: list[Target]) -> float | None:
        """Seconds to wait for the first target before starting the second (None: no hedging)."""
        params = self.params
        if params.hedge_p95 and targets and targets[0].candidate.health.p95_ttft_ms is not None:
            return targets[0].candidate.health.p95_ttft_ms / 1000
        return params.hedge_after_ms / 1000 if params.hedge_after_ms is not None else None

    async def _race(
        self, first: Target, second: Target, delay: float, failures: list[Failure]
    ) -> Completed | StreamStarted | None:
        """Start `second` if `first` has produced nothing after `delay`; keep whichever succeeds first."""
        tasks = {asyncio.ensure_future(self._on_target(first))}
        done, _ = await asyncio.wait(tasks, timeout=delay)
        if not done and self.health.allow(second.key):
            self.hedged = True
            tasks.add(asyncio.ensure_future(self._on_target(second)))
        pending = set(tasks)
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    exc = task.exception()
                    if exc is None:
                        return task.result()
                    if not isinstance(exc, Failure):
                        raise exc
                    failures.append(exc)
        finally:
            for task in pending:
                task.cancel()
            for result in await asyncio.gather(*pending, return_exceptions=True):
                if isinstance(result, StreamStarted):
                    result.response.close()
        return None

    def _skip(self, target: Target, why: str) -> None:
        self.records.append(AttemptRecord(target.provider.name, target.candidate.model, "skipped", error=why))

    def _remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - self.clock())

    def _bound(self, timeout: float) -> float:
        remaining = self._remaining()
        return timeout if remaining is None else min(timeout, remaining)

    async def _on_target(self, target: Target) -> Completed | StreamStarted:
        retry = 0
        fresh = False
        while True:
            started = self.clock()
            try:
                with attempt_span(self.trace, target, retry, self.records, self.stream) as child:
                    result = await self._attempt(target, started, child, fresh)
            except Failure as failure:
                if failure.cls == "busy":  # our own cap, not the upstream's doing: nothing was sent
                    self.health.release(target.key)
                    self._skip(target, failure.message)
                    raise
                elapsed = (self.clock() - started) * 1000
                outcome = "timeout" if failure.cls == "timeout" else "error"
                self.records.append(
                    AttemptRecord(
                        target.provider.name,
                        target.candidate.model,
                        outcome,
                        failure.status,
                        failure.message,
                        elapsed,
                        retry,
                    )
                )
                if failure.cls == "caller":
                    self.health.release(target.key)
                    if self.continuation:
                        raise
                    raise caller_error(failure) from None
                if failure.cls == "context":
                    # The prompt was too big for this model: says nothing about the target's health.
                    self.health.release(target.key)
                    raise
                if failure.cls == "stale" and not fresh:
                    # A kept-alive connection closed as idle under the request (nginx does the same
                    # for its cached connections): not the target's failure and not one of its
                    # retries; sent again at once on a new connection (the target's other idle ones
                    # may have been closed in the same breath), which cannot be stale.
                    fresh = True
                    continue
                self.health.record_failure(target.key, elapsed, first_token=self.stream and failure.cls == "timeout")
                if failure.cls != "retryable" or retry >= self.params.retries or self.health.is_open(target.key):
                    raise
                delay = self._backoff(retry, failure.retry_after)
                if delay is None:
                    raise
                retry += 1
                await asyncio.sleep(delay)
                continue
            except asyncio.CancelledError:
                self.records.append(
                    AttemptRecord(
                        target.provider.name,
                        target.candidate.model,
                        "cancelled",
                        error="lost the hedge race",
                        retry=retry,
                        duration_ms=(self.clock() - started) * 1000,
                    )
                )
                self.health.release(target.key)
                raise
            except BaseException:
                self.health.release(target.key)
                raise
            self.records.append(
                AttemptRecord(
                    target.provider.name,
                    target.candidate.model,
                    "ok",
                    200,
                    duration_ms=(self.clock() - started) * 1000,
                    retry=retry,
                )
            )
            return result

    def _backoff(self, retry: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retrying the same target; None when it is not worth waiting."""
        if retry_after is not None:
            if retry_after > self.params.max_retry_after_s:
                return None
            delay = retry_after
        else:
            base = self.params.backoff_ms / 1000 * (2**retry)
            delay = base * (0.5 + self.rng.random() / 2)
        remaining = self._remaining()
        if remaining is not None and delay >= remaining:
            return None
        return delay

    async def _attempt(
        self, target: Target, started: float, child: TraceContext, fresh: bool = False
    ) -> Completed | StreamStarted:
        provider = target.provider
        exchange = self.exchanges(target.adapter)
        req = exchange.request(target.adapter, provider, target.candidate.model, self.stream)
        first = self.params.first_token_timeout_s or provider.first_token_timeout_s or provider.timeout_s
        first = self._bound(first if self.stream else provider.timeout_s)
        headers = {"traceparent": child.traceparent}
        if self.anthropic_beta is not None and target.adapter.kind in BETA_HEADER_KINDS:
            headers["anthropic-beta"] = merged_betas(req.headers.get("anthropic-beta"), self.anthropic_beta)
        elif self.anthropic_beta is not None and isinstance(target.adapter, BedrockAdapter):
            req = target.adapter.with_betas(provider, req, self.anthropic_beta)
        try:
            resp = await self.pool.open(
                provider.name,
                req,
                first_byte_timeout=first,
                extra_headers=headers,
                fresh=fresh,
                limit=provider.max_concurrent,
            )
        except UpstreamBusy as exc:
            raise Failure("busy", str(exc)) from None
        except UpstreamTimeout as exc:
            raise Failure("timeout", str(exc)) from None
        except UpstreamStale as exc:
            raise Failure("stale", f"{exc}; sent again on a new connection") from None
        except UpstreamFailure as exc:
            raise Failure("retryable", str(exc)) from None
        try:
            # A 202 "accepted, poll me" is an answer on endpoints that say so (async image/video
            # APIs): the task worker polls it (app/tasks/poller.py).
            pending = resp.status == 202 and not self.stream and getattr(exchange, "accepts_pending", False)
            if resp.status != 200 and not pending:
                await self._raise_status(target, resp)
            if self.stream:
                return await self._first_output(target, resp, started, first, exchange)
            return await self._whole(target, resp, started, exchange)
        except BaseException:
            resp.close()
            raise

    async def _raise_status(self, target: Target, resp: UpstreamResponse) -> None:
        try:
            raw = await resp.read(self._bound(target.provider.timeout_s), MAX_ERROR_BODY)
        except UpstreamFailure:
            raw = b""
        parsed = target.adapter.parse_error(resp.status, raw)
        raise status_failure(target.provider.name, resp.status, parsed, resp.headers.get("retry-after"))

    async def _whole(self, target: Target, resp: UpstreamResponse, started: float, exchange: Exchange) -> Completed:
        try:
            raw = await resp.read(self._bound(target.provider.timeout_s))
        except UpstreamTimeout:
            raise Failure("timeout", "upstream stalled while sending its answer") from None
        except UpstreamFailure as exc:
            raise Failure("retryable", str(exc)) from None
        elapsed = (self.clock() - started) * 1000
        served = Served(target.provider.name, target.candidate.model, elapsed)
        if resp.status == 202:
            raw = pending_reply(raw, resp.headers)
        try:
            body, usage = exchange.reply(raw, served)
        except BadUpstreamReply as exc:
            raise Failure("retryable", f"{target.provider.name}: {exc}", 200) from None
        self.health.record_success(target.key, elapsed)
        return Completed(body, usage, served, target, elapsed)

    async def _first_output(
        self, target: Target, resp: UpstreamResponse, started: float, first_timeout: float, exchange: Exchange
    ) -> StreamStarted:
        content_type = resp.headers.get("content-type", "")
        if "json" in content_type and "event-stream" not in content_type:
            raw = await resp.read(self._bound(target.provider.timeout_s), MAX_ERROR_BODY)
            parsed = target.adapter.parse_error(200, raw)
            raise Failure("retryable", f"{target.provider.name} answered a stream with JSON: {parsed.message}", 200)
        served = Served(target.provider.name, target.candidate.model)
        relay = exchange.stream(served)
        splitter: StreamSplitter
        if isinstance(relay, BinaryRelay):
            splitter = relay.splitter(resp.headers)
        elif content_type.startswith(EVENTSTREAM):  # Bedrock: AWS's binary framing around SSE events
            splitter = BedrockStreamSplitter()
        else:
            splitter = SSESplitter()
        deadline = started + first_timeout
        out: list[bytes] = []
        while not out:
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise Failure("timeout", f"{target.provider.name}: no first token within {first_timeout:g}s")
            try:
                chunk = await resp.next_chunk(remaining)
            except UpstreamTimeout:
                raise Failure("timeout", f"{target.provider.name}: no first token within {first_timeout:g}s") from None
            except UpstreamFailure as exc:
                raise Failure("retryable", str(exc)) from None
            if not chunk:
                raise Failure("retryable", f"{target.provider.name}: stream ended before any output")
            for frame in splitter.feed(chunk):
                try:
                    piece = relay.feed(frame)
                except UpstreamStreamError as exc:
                    raise Failure("retryable", f"{target.provider.name}: {exc}", exc.status) from None
                if piece:
                    out.append(piece)
        ttft = (self.clock() - started) * 1000
        return StreamStarted(resp, relay, splitter, b"".join(out), served, target, ttft, started)
