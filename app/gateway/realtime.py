"""OpenAI's Realtime API through the gateway: one caller's WebSocket session relayed to one upstream.

At connect: the key, its plan's (and team's) models, its limits (the session counts as one request;
budgets and caps are checked then), the route's candidates in the strategy's order, of those the ones
whose provider serves Realtime, and the first that accepts the upgrade (the others are fallbacks, with
the breakers and provider budgets as for any call). Then frames pass both ways untouched, except a
`session.update` that names a model (ours -> the upstream's). Each `response.done` is a usage row
whose tokens and cost settle on the key's limits and budgets like any call's; a session that ends
without one leaves a row of its own, so every session shows in the request log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from app.accounting.attribution import END_USER_HEADER, TAGS_HEADER, header_labels, merged_tags
from app.accounting.cost import cost_usd
from app.accounting.events import Usage, UsageEvent
from app.errors import (
    GatewayError,
    ProviderError,
    ProviderTimeoutError,
    ServiceUnavailableError,
    UnsupportedFeatureError,
    UpstreamStatusError,
)
from app.gateway.attempt_outcomes import AttemptRecord, Target
from app.gateway.keys import authenticate
from app.gateway.rank import rank_targets
from app.gateway.realtime_frames import error_event, response_done, rewrite_session_model
from app.gateway.resolve import resolve
from app.gateway.snapshot import KeyRecord
from app.gateway.tracing import TraceContext
from app.ids import request_id as new_row_id
from app.limits.admit import Admission
from app.observability.logging import redact
from app.providers.demo_realtime import DemoRealtime
from app.providers.realtime import REALTIME_KINDS, realtime_headers, realtime_url

__all__ = ["RealtimeAsk", "RealtimeSession", "open_session"]

log = logging.getLogger("polyroute.realtime")

MAX_FRAME_BYTES = 16 * 1024 * 1024
"""The largest frame taken from an upstream (a `response.done` carries the whole answer)."""
FORWARDED_HEADERS = ("openai-beta",)
"""The caller's headers the upstream sees (the beta protocol's opt-in); credentials never."""
_NOT_SENDABLE = {1005: 1000, 1006: 1011, 1015: 1011}
"""Close codes that describe a connection rather than travel on one, and what the caller gets instead."""

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class UpstreamSocket(Protocol):
    """What the relay needs of the upstream side: a websockets client connection, or the demo's session."""

    @property
    def close_code(self) -> int | None: ...

    @property
    def close_reason(self) -> str | None: ...

    async def send(self, message: str | bytes) -> None: ...

    async def close(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[str | bytes]: ...


@dataclass(slots=True)
class RealtimeAsk:
    """A caller's upgrade request, as the endpoint read it."""

    model: str
    headers: dict[str, str]
    query: list[tuple[str, str]]
    """Query parameters besides the model (`intent=transcription`...), passed on."""
    trace: TraceContext
    request_id: str
    received: float = field(default_factory=time.perf_counter)


@dataclass(slots=True)
class _Caller:
    key: KeyRecord
    admission: Admission | None = None
    route: str | None = None
    end_user: str | None = None
    tags: tuple[str, ...] = ()


async def open_session(gateway: Any, ask: RealtimeAsk) -> RealtimeSession:
    """Authorise, admit and connect upstream; a failure after the key is known is a usage row too."""
    snapshot = gateway.catalog.snapshot
    caller = _Caller(authenticate(ask.headers, snapshot))
    attempts: list[dict[str, Any]] = []
    try:
        resolved = resolve(ask.model, snapshot, caller.key)
        caller.route = resolved.route.name if resolved.route else None
        kinds = {p.kind for t in resolved.targets if (p := snapshot.providers.get(t.provider)) is not None}
        if not kinds & REALTIME_KINDS:  # before anything is counted: no call was possible
            raise UnsupportedFeatureError(
                f"No target of '{ask.model}' serves the Realtime API (providers of kind openai, azure, "
                "openai-compatible and demo do)",
                param="model",
            )
        if END_USER_HEADER in ask.headers or TAGS_HEADER in ask.headers:
            caller.end_user, caller.tags = header_labels(ask.headers)
        caller.tags = merged_tags(caller.key.tags, caller.tags) if caller.tags else caller.key.tags
        quota_user = caller.end_user if caller.key.end_user_limits else None
        caller.admission = await gateway.limiter.admit(caller.key, quota_user)
        budgets = gateway.provider_spend.view() if gateway.provider_spend is not None else {}
        if gateway.quotas is not None:
            budgets = {**budgets, **gateway.quotas.view()}
        ranked, _ = rank_targets(
            resolved,
            snapshot,
            caller.key,
            gateway.health,
            estimated_prompt_tokens=0,
            max_output_tokens=None,
            stream=True,
            rng=gateway.rng,
            **budgets,
        )
        targets = [t for t in ranked if t.provider.kind in REALTIME_KINDS]
        if not targets:  # the capable ones are disabled, or over their budgets (then rank_targets said so)
            raise ServiceUnavailableError(f"No target of '{ask.model}' that serves the Realtime API is available")
        target, ws = await _connect_first(gateway, ask, targets, attempts)
    except GatewayError as exc:
        tried = sum(1 for a in attempts if a["outcome"] != "skipped")
        detail = {"realtime": {"session": ask.request_id}, "attempts": attempts}
        _record(gateway, ask, caller, exc.status_code, error=exc, detail=detail, attempts=tried)
        raise
    return RealtimeSession(gateway, ask, caller, target, ws, attempts)


async def _connect_first(
    gateway: Any, ask: RealtimeAsk, targets: list[Target], attempts: list[dict[str, Any]]
) -> tuple[Target, UpstreamSocket]:
    """The first target that accepts the upgrade; the last one's failure when none does."""
    failure: GatewayError | None = None
    for i, target in enumerate(targets):
        if not gateway.health.allow(target.key) and i < len(targets) - 1:
            attempts.append(AttemptRecord(target.provider.name, target.candidate.model, "skipped").as_dict())
            continue
        if target.provider.kind == "demo":
            attempts.append(_attempt(target, "ok", 101, 0.0))
            return target, DemoRealtime(target.candidate.model)
        url = realtime_url(target.provider, target.candidate.model, ask.query)
        headers = realtime_headers(target.provider)
        headers.update({name: ask.headers[name] for name in FORWARDED_HEADERS if name in ask.headers})
        headers["traceparent"] = ask.trace.child().traceparent
        started = time.perf_counter()
        try:
            ws = await connect(
                url,
                additional_headers=headers,
                open_timeout=target.provider.timeout_s,
                max_size=MAX_FRAME_BYTES,
                compression=None,
                proxy=None,
                user_agent_header=None,
            )
        except InvalidStatus as exc:
            failure, status = _refused(target, exc), exc.response.status_code
        except TimeoutError:
            failure = ProviderTimeoutError(
                f"{target.provider.name} did not accept within {target.provider.timeout_s:g}s"
            )
            status = failure.status_code
        except (OSError, InvalidHandshake) as exc:
            failure = ProviderError(f"{target.provider.name}: {exc or type(exc).__name__}")
            status = failure.status_code
        else:
            elapsed = (time.perf_counter() - started) * 1000
            gateway.health.record_ok(target.key)
            if gateway.quotas is not None:
                gateway.quotas.add_soon(target.key, target.model, 0)
            attempts.append(_attempt(target, "ok", 101, elapsed))
            return target, ws
        elapsed = (time.perf_counter() - started) * 1000
        gateway.health.record_failure(target.key)
        outcome = "timeout" if isinstance(failure, ProviderTimeoutError) else "error"
        attempts.append(_attempt(target, outcome, status, elapsed, failure.detail[:300]))
        if isinstance(failure, UpstreamStatusError) and failure.upstream_status in (400, 422):
            break  # the request is at fault: another upstream would refuse it too
    assert failure is not None
    raise failure


def _attempt(target: Target, outcome: str, status: int, elapsed_ms: float, error: str | None = None) -> dict[str, Any]:
    """As the request log keeps a call's attempts (an upstream's error text masked like theirs)."""
    record = AttemptRecord(target.provider.name, target.candidate.model, outcome, status, error, elapsed_ms)
    return record.as_dict()


def _refused(target: Target, exc: InvalidStatus) -> GatewayError:
    status = exc.response.status_code
    body = bytes(exc.response.body or b"")
    parsed = target.adapter.parse_error(status, body)
    detail = f"{target.provider.name}: {parsed.message}" if parsed.message else f"{target.provider.name}: HTTP {status}"
    if status in (400, 404, 422, 429):
        retry = exc.response.headers.get("retry-after")
        return UpstreamStatusError(
            detail, upstream_status=status, upstream_code=parsed.code, headers={"Retry-After": retry} if retry else None
        )
    return ProviderError(detail)


class RealtimeSession:
    """An accepted session: `relay` pumps frames until either side closes, accounting as it goes."""

    def __init__(
        self,
        gateway: Any,
        ask: RealtimeAsk,
        caller: _Caller,
        target: Target,
        ws: UpstreamSocket,
        attempts: list[dict[str, Any]],
    ) -> None:
        self.gateway = gateway
        self.ask = ask
        self.caller = caller
        self.target = target
        self.ws = ws
        self.attempts = attempts
        self.responses = 0
        self.caller_gone = False
        self.close_code: int | None = None
        self._mark = time.perf_counter()
        self._tried = sum(1 for a in attempts if a["outcome"] != "skipped")
        self._send: Send | None = None
        self._checks: set[asyncio.Future[None]] = set()
        self.refused: GatewayError | None = None
        """A budget spent mid-session: why the session was ended."""

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """Sent with the accept: which upstream took the session, and the limits' headers."""
        served = f"{self.target.provider.name}/{self.target.candidate.model}"
        extra = self.caller.admission.headers if self.caller.admission else {}
        out = [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        out += [(b"x-polyroute-provider", self.target.provider.name.encode()), (b"x-polyroute-model", served.encode())]
        return out

    async def relay(self, receive: Receive, send: Send) -> None:
        self._send = send
        to_caller = asyncio.ensure_future(self._to_caller(send))
        to_upstream = asyncio.ensure_future(self._to_upstream(receive))
        try:
            await asyncio.wait((to_caller, to_upstream), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (to_caller, to_upstream):
                task.cancel()
            await asyncio.gather(to_caller, to_upstream, return_exceptions=True)
            await self.ws.close()
            if self._checks:  # the last responses' spend is counted before the session is gone
                await asyncio.wait(set(self._checks), timeout=5)
            self._finish()

    async def _to_upstream(self, receive: Receive) -> None:
        model = self.target.candidate.model
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    text = message.get("text")
                    if text is not None:
                        await self.ws.send(rewrite_session_model(text, model))
                    else:
                        await self.ws.send(message.get("bytes") or b"")
                elif kind == "websocket.disconnect":
                    self.caller_gone = True
                    self.close_code = int(message.get("code") or 1005)
                    return
        except ConnectionClosed:
            return  # the upstream went: `_to_caller` tells the caller

    async def _to_caller(self, send: Send) -> None:
        try:
            async for message in self.ws:
                if isinstance(message, str):
                    done = response_done(message)
                    if done is not None:
                        self._response(*done)
                    sent = await self._deliver(send, {"type": "websocket.send", "text": message})
                else:
                    sent = await self._deliver(send, {"type": "websocket.send", "bytes": message})
                if not sent:
                    return
        except ConnectionClosed:
            pass  # an abnormal close: its code is on the connection as for a clean one
        code = self.ws.close_code if self.ws.close_code is not None else 1006
        self.close_code = code
        code = _NOT_SENDABLE.get(code, code)
        reason = self.ws.close_reason or ("upstream connection lost" if code == 1011 else "")
        if self.refused is not None:
            code, reason = 1008, self.refused.error_code
        if not self.caller_gone:
            await self._deliver(send, {"type": "websocket.close", "code": code, "reason": reason[:120]})

    async def _deliver(self, send: Send, message: dict[str, Any]) -> bool:
        """False once the caller's side is gone (each server says so with its own error type)."""
        try:
            await send(message)
        except Exception:
            self.caller_gone = True
            return False
        return True

    def _response(self, usage: Usage, status: str) -> None:
        self.responses += 1
        now = time.perf_counter()
        latency_ms, self._mark = (now - self._mark) * 1000, now
        detail = {"realtime": {"session": self.ask.request_id, "response": self.responses, "status": status}}
        cost = _record(
            self.gateway,
            self.ask,
            self.caller,
            502 if status == "failed" else 200,
            target=self.target,
            usage=usage,
            latency_ms=latency_ms,
            detail=detail,
            attempts=self._tried,
            settle=False,
        )
        if self.caller.admission is not None and (usage.total_tokens or cost):
            check = asyncio.ensure_future(self._settle_then_check(usage.total_tokens, cost))
            self._checks.add(check)
            check.add_done_callback(self._checks.discard)

    async def _settle_then_check(self, tokens: int, cost: float) -> None:
        """The response's tokens and spend counted, then the budgets read: one spent ends the session (an
        `error` event, then a 1008 close), so an open session cannot outrun a budget by more than a response."""
        admission, key, limiter = self.caller.admission, self.caller.key, self.gateway.limiter
        assert admission is not None
        await limiter.settle(key, admission.limits, tokens, cost, admission.end_user)
        refused = await limiter.out_of_budget(key, admission.end_user)
        if refused is None or self.refused is not None:
            return
        self.refused = refused
        if self._send is not None:
            await self._deliver(self._send, {"type": "websocket.send", "text": error_event(refused)})
        await self.ws.close()  # ends the relay: the caller is closed with 1008 and the error's code

    def _finish(self) -> None:
        if self.responses:
            return
        seconds = round(time.perf_counter() - self.ask.received, 3)
        code = self.close_code
        status = 200 if code in (1000, 1001, 1005, None) else 499 if self.caller_gone else 502
        session = {"session": self.ask.request_id, "responses": 0, "seconds": seconds, "close_code": code}
        detail = {"realtime": session, "attempts": self.attempts}
        _record(self.gateway, self.ask, self.caller, status, target=self.target, detail=detail, attempts=self._tried)


def _record(
    gateway: Any,
    ask: RealtimeAsk,
    caller: _Caller,
    status: int,
    *,
    target: Target | None = None,
    usage: Usage | None = None,
    error: GatewayError | None = None,
    latency_ms: float | None = None,
    detail: dict[str, Any] | None = None,
    attempts: int = 0,
    settle: bool = True,
) -> float:
    """One usage row; its tokens and cost settle on the key's (and user's, team's, end user's) limits,
    unless the caller settles them itself (`settle=False`). Returns the cost."""
    usage = usage or Usage()
    cost = cost_usd(target.model, usage) if target is not None else 0.0
    key = caller.key
    if error is not None:
        detail = {**(detail or {}), "error": redact(error.detail[:500])}
    gateway.usage.put(
        UsageEvent(
            id=new_row_id(),
            ts=time.time(),
            endpoint="realtime",
            status=status,
            key_id=key.id,
            user_id=key.user_id,
            plan=key.plan.name if key.plan else None,
            requested_model=ask.model,
            route=caller.route,
            provider=target.provider.name if target else None,
            model=target.candidate.model if target else None,
            error_code=error.error_code if error else None,
            stream=True,
            usage=usage,
            cost_usd=cost,
            latency_ms=latency_ms if latency_ms is not None else (time.perf_counter() - ask.received) * 1000,
            attempts=attempts,
            detail=detail,
            trace_id=ask.trace.trace_id,
            end_user=caller.end_user,
            tags=caller.tags,
        )
    )
    admission = caller.admission
    if settle and admission is not None and (usage.total_tokens or cost):
        gateway.limiter.settle_soon(key, admission.limits, usage.total_tokens, cost, admission.end_user)
    if target is not None and cost and gateway.provider_spend is not None:
        gateway.provider_spend.add_soon(target.provider, cost)
    if target is not None and gateway.quotas is not None:  # the session counted as a call when it opened
        gateway.quotas.add_soon(target.key, target.model, usage.total_tokens, calls=0)
    return cost
