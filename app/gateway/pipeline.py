"""The hot path, top to bottom: auth -> resolve -> admit -> rank -> attempts -> reply -> account."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.accounting.attribution import END_USER_HEADER, TAGS_HEADER, header_labels
from app.accounting.cost import cost_usd
from app.accounting.events import Payload, Usage, UsageEvent
from app.accounting.payloads import PayloadLog
from app.accounting.queue import UsageQueue
from app.accounting.tokens import estimate_usage
from app.cache.entry import CachedAnswer
from app.cache.policy import CACHEABLE_ENDPOINTS, HEADER
from app.cache.response_cache import ResponseCache
from app.conversations.store import ResponseStore
from app.errors import GatewayError
from app.gateway.answer_text import answer_text
from app.gateway.attempt_outcomes import Completed, StreamStarted, Target
from app.gateway.attempts import AttemptLoop
from app.gateway.cache_reply import hit_reply
from app.gateway.call import Call, Reply
from app.gateway.call_context import CallContext
from app.gateway.exchange import BinaryRelay
from app.gateway.explain import explain, explain_header, splice_explain, wants_explain
from app.gateway.fallbacks import rank_each, take_fallbacks
from app.gateway.hooks_runner import HookRunner
from app.gateway.keys import authenticate
from app.gateway.rank import rank_targets
from app.gateway.recovery import make_recovery
from app.gateway.resolve import resolve
from app.gateway.restore import restored
from app.gateway.snapshot import CatalogSnapshot
from app.gateway.stream_tap import tap_stream
from app.gateway.streaming import StreamOutcome, relay_stream
from app.gateway.upstream import UpstreamPool
from app.health.scores import HealthRegistry
from app.limits.admit import Limiter
from app.limits.deployment_quotas import DeploymentQuotas, has_quota
from app.limits.provider_spend import ProviderSpend
from app.prompts.expand import PREFIX as PROMPT_PREFIX
from app.prompts.expand import expand as expand_prompt

__all__ = ["Gateway"]


class SnapshotSource(Protocol):
    """Anything with a current `snapshot` (the catalog cache)."""

    @property
    def snapshot(self) -> CatalogSnapshot: ...


@dataclass(slots=True)
class Gateway:
    """The request pipeline and what it needs; built once by `create_app`."""

    catalog: SnapshotSource
    pool: UpstreamPool
    health: HealthRegistry
    limiter: Limiter
    usage: UsageQueue
    responses: ResponseStore
    rng: random.Random = field(default_factory=random.Random)
    cache: ResponseCache = field(default_factory=ResponseCache.in_memory)
    hooks: HookRunner = field(default_factory=HookRunner)
    provider_spend: ProviderSpend | None = None
    """Provider budgets (app.limits.provider_spend); None: no provider has one to keep."""
    payloads: PayloadLog | None = None
    """Which requests keep their bodies (app.accounting.payloads); None: none do."""
    quotas: DeploymentQuotas | None = None
    """Deployments' rpm/tpm (app.limits.deployment_quotas); None: not kept."""

    async def handle(self, call: Call) -> Reply:
        ctx = CallContext(call)
        if call.endpoint in CACHEABLE_ENDPOINTS:
            ctx.headers[HEADER] = "off"
        try:
            return await self._handle(ctx)
        except GatewayError as exc:
            exc.headers.update(ctx.headers)
            if ctx.key is not None and not ctx.accounted:
                self._account(ctx, exc.status_code, error=exc, target=self._last_tried(ctx))
            raise

    @staticmethod
    def _last_tried(ctx: CallContext) -> Target | None:
        """The target of the last attempt that reached an upstream, so an error row names it."""
        records = [r for r in (ctx.loop.records if ctx.loop else []) if r.outcome != "skipped"]
        if not records:
            return None
        key = f"{records[-1].provider}/{records[-1].model}"
        return next((t for t in ctx.targets if t.key == key), None)

    async def _handle(self, ctx: CallContext) -> Reply:
        call = ctx.call
        snapshot = self.catalog.snapshot
        ctx.key = key = call.key or authenticate(call.headers, snapshot)
        if snapshot.prompts and (served := expand_prompt(call, snapshot.prompts)) is not None:
            ctx.prompt = ctx.headers["x-polyroute-prompt"] = served
        call.parsed = parsed = call.parse(call.raw)
        if END_USER_HEADER in call.headers or TAGS_HEADER in call.headers:
            ctx.end_user, ctx.tags = header_labels(call.headers)
        ctx.resolved = resolved = resolve(parsed.model, snapshot, key)
        models = [resolved]
        if "models" in parsed.body or "fallbacks" in parsed.body:  # named fallbacks: tried after `model`
            models += [resolve(name, snapshot, key) for name in take_fallbacks(parsed.body)]
        if parsed.bind is not None:
            await parsed.bind(key, self)
        estimated_tokens = len(call.raw) // 4
        ctx.admission = await self.limiter.admit(key, ctx.named_end_user() if key.end_user_limits else None)
        ctx.headers.update(ctx.admission.headers)
        params = resolved.params
        if self.hooks.everywhere or params.hooks:
            ctx.hooks = await self.hooks.before(call, parsed, key, resolved)
            if ctx.hooks is not None:
                ctx.headers.update(ctx.hooks.headers)  # what `before` said reaches streams and refusals too
        if params.cache or key.metadata.get("cache") is True or HEADER in call.headers:
            rewritten = ctx.hooks.rewritten if ctx.hooks else None
            ctx.cache, ctx.hit = await self.cache.begin(call, parsed, key, resolved, rewritten=rewritten)
            if ctx.cache is not None:
                ctx.headers[HEADER] = ctx.cache.state
            if ctx.hit is not None:
                return await self._from_cache(ctx, ctx.hit)
        budgets = self.provider_spend.view() if self.provider_spend is not None else _NO_BUDGETS
        if self.quotas is not None and self.quotas.over:
            budgets = {**budgets, **self.quotas.view()}
        ctx.targets, ctx.ranked = rank_each(
            models,
            lambda model: rank_targets(
                model,
                snapshot,
                key,
                self.health,
                estimated_prompt_tokens=estimated_tokens,
                max_output_tokens=parsed.max_output_tokens,
                stream=parsed.stream,
                rng=self.rng,
                **budgets,
            ),
        )
        ctx.loop = loop = AttemptLoop(
            pool=self.pool,
            health=self.health,
            exchanges=parsed.exchanges,
            params=resolved.params,
            trace=call.trace,
            stream=parsed.stream,
            rng=self.rng,
            anthropic_beta=call.headers.get("anthropic-beta"),
        )
        try:
            result = await loop.run(ctx.targets)
        finally:
            ctx.headers["x-polyroute-attempts"] = str(sum(1 for r in loop.records if r.outcome != "skipped"))
            if wants_explain(call.headers):
                ctx.explanation = explain(resolved.strategy, ctx.ranked, loop.records)
                ctx.headers["x-polyroute-explain"] = explain_header(ctx.explanation)
        if isinstance(result, Completed):
            return await self._completed(ctx, result)
        return self._streaming(ctx, result)

    async def _from_cache(self, ctx: CallContext, hit: CachedAnswer) -> Reply:
        """A hit: no upstream call, no tokens; the hooks' `after` still sees the answer."""
        assert ctx.cache is not None
        model = f"{hit.provider}/{hit.model}"
        if ctx.hooks is not None and not hit.stream:
            await ctx.hooks.after(hit.body, endpoint=ctx.call.endpoint, provider=hit.provider, model=model, cached=True)
            ctx.headers.update(ctx.hooks.headers)
        reply = hit_reply(ctx.call, ctx.cache, hit, ctx.headers)
        if reply.stream is None:
            _later(ctx.call, lambda: self._account(ctx, 200, answer=hit.body))
        else:
            run = ctx.hooks
            reply.stream = tap_stream(
                reply.stream,
                endpoint=ctx.call.endpoint,
                dialect=ctx.call.dialect,  # type: ignore[arg-type]
                finish=lambda _, blocked: self._hit_done(ctx, blocked),
                on_chunk=run.on_chunk if run and run.chunk_hooks else None,
                at_end=(lambda text: run.at_end(text, provider=hit.provider, model=model, cached=True))
                if run
                else None,
            )
        return restored(ctx, reply)

    def _hit_done(self, ctx: CallContext, blocked: GatewayError | None) -> None:
        self._account(ctx, blocked.status_code if blocked else 200, error=blocked)

    def _reply_headers(
        self, ctx: CallContext, target: Target, upstream_ms: float, content_type: bytes
    ) -> list[tuple[bytes, bytes]]:
        gateway_ms = (time.perf_counter() - ctx.call.received) * 1000 - upstream_ms
        provider = target.provider.name
        timing = f"gateway;dur={max(0.0, gateway_ms):.2f}, upstream;dur={upstream_ms:.2f}"
        extra = ctx.headers
        for name in _OURS_LAST:  # a header set earlier under one of these names gives way, as a dict merge would
            extra.pop(name, None)
        out = [(b"content-type", content_type)]
        out += [(k.encode(), v.encode()) for k, v in extra.items()]
        out += [
            (b"x-polyroute-provider", provider.encode()),
            (b"x-polyroute-model", f"{provider}/{target.candidate.model}".encode()),
            (b"server-timing", timing.encode()),
        ]
        return out

    async def _completed(self, ctx: CallContext, result: Completed) -> Reply:
        target = result.target
        usage = _whole_usage(ctx.call, result)
        if ctx.hooks is not None:
            try:
                await ctx.hooks.after(
                    result.body,
                    endpoint=ctx.call.endpoint,
                    provider=target.provider.name,
                    model=result.served.public_model,
                    cached=False,
                )
            except GatewayError as exc:  # the upstream answered (and costs): account that, then refuse
                ctx.accounted = True
                self._account(ctx, exc.status_code, target=target, usage=usage, error=exc, answer=result.body)
                raise
            ctx.headers.update(ctx.hooks.headers)

        def settle() -> None:
            self._account(ctx, 200, target=target, usage=usage, answer=result.body)
            if ctx.cache is not None:
                cost = cost_usd(target.model, usage)
                provider, model = target.provider.name, target.candidate.model
                entry = CachedAnswer(provider=provider, model=model, usage=usage, cost_usd=cost, body=result.body)
                self.cache.store(ctx.cache, entry)

        _later(ctx.call, settle)  # the usage event and the cache entry wait until the answer is written
        headers = self._reply_headers(ctx, result.target, result.upstream_ms, b"application/json")
        body = result.body if ctx.explanation is None else splice_explain(result.body, ctx.explanation)
        return restored(ctx, Reply(200, headers, body))

    def _streaming(self, ctx: CallContext, start: StreamStarted) -> Reply:
        provider = start.target.provider
        params = ctx.resolved.params if ctx.resolved else None
        stall = (params and params.stall_timeout_s) or provider.stall_timeout_s or provider.timeout_s
        tapped = ctx.cache is not None or ctx.hooks is not None

        def done(started: StreamStarted, outcome: StreamOutcome) -> None:
            if tapped:  # accounting waits for the tap, whose hooks may still refuse the answer
                ctx.ended = (started, outcome)
            else:  # as for a whole answer, once the last byte is written: the caller's stream ends sooner
                _later(ctx.call, lambda: self._stream_done(ctx, started, outcome))

        stream = relay_stream(
            start,
            stall_timeout=stall,
            dialect=ctx.call.dialect,  # type: ignore[arg-type]
            on_done=done,
            recover=self._recovery(ctx, start),
        )
        if tapped:
            stream = self._tap(ctx, stream, start)
        relay = start.relay
        content_type = relay.content_type if isinstance(relay, BinaryRelay) else b"text/event-stream"
        headers = self._reply_headers(ctx, start.target, start.ttft_ms, content_type)
        headers.append((b"cache-control", b"no-cache"))
        return restored(ctx, Reply(200, headers, stream=stream))

    def _tap(self, ctx: CallContext, stream: AsyncIterator[bytes], start: StreamStarted) -> AsyncIterator[bytes]:
        """The stream with its pieces kept for the cache and/or shown to the hooks."""
        run = ctx.hooks
        provider, model = start.target.provider.name, start.served.public_model

        def finish(pieces: list[bytes] | None, blocked: GatewayError | None) -> None:
            ctx.blocked = blocked
            if ctx.ended is None:
                return
            started, outcome = ctx.ended
            self._stream_done(ctx, started, outcome)
            if pieces is None or ctx.cache is None or ctx.spent is None or outcome.status != 200:
                return
            if outcome.recovered_by is None:  # a spliced recovery is not the answer one upstream gives
                target = started.target
                usage, cost = ctx.spent
                entry = CachedAnswer(
                    provider=target.provider.name,
                    model=target.candidate.model,
                    usage=usage,
                    cost_usd=cost,
                    pieces=pieces,
                )
                self.cache.store(ctx.cache, entry)

        return tap_stream(
            stream,
            endpoint=ctx.call.endpoint,
            dialect=ctx.call.dialect,  # type: ignore[arg-type]
            finish=finish,
            capture=ctx.cache is not None,
            on_chunk=run.on_chunk if run and run.chunk_hooks else None,
            at_end=(lambda text: run.at_end(text, provider=provider, model=model, cached=False)) if run else None,
        )

    def _recovery(self, ctx: CallContext, start: StreamStarted) -> Any:
        """The mid-stream recovery hook over the candidates ranked after the one that started."""
        parsed, resolved = ctx.call.parsed, ctx.resolved
        if parsed is None or resolved is None or parsed.hub_chat is None or not parsed.recoverable:
            return None
        if not resolved.params.mid_stream_recovery:
            return None
        keys = [t.key for t in ctx.targets]
        rest = ctx.targets[keys.index(start.target.key) + 1 :] if start.target.key in keys else []
        if not rest:
            return None

        def new_loop(exchanges: Any) -> AttemptLoop:
            return AttemptLoop(
                pool=self.pool,
                health=self.health,
                exchanges=exchanges,
                params=resolved.params,
                trace=ctx.call.trace,
                stream=True,
                rng=self.rng,
                anthropic_beta=ctx.call.headers.get("anthropic-beta"),
            )

        return make_recovery(hub_chat=parsed.hub_chat, targets=rest, new_loop=new_loop)

    def _stream_done(self, ctx: CallContext, started: StreamStarted, outcome: StreamOutcome) -> None:
        elapsed = (outcome.finished_at - started.started) * 1000
        final = outcome.recovered_by or started
        body = ctx.call.parsed.body if ctx.call.parsed else {}
        extra_cost = 0.0
        if outcome.recovered_by is not None:
            self.health.record_failure(started.target.key, elapsed)
            partial = estimate_usage(body, started.relay.text())
            extra_cost = cost_usd(started.target.model, partial)
            ctx.cut = outcome.cut
        if outcome.status == 200:
            final_elapsed = (outcome.finished_at - final.started) * 1000
            self.health.record_success(final.target.key, final_elapsed, final.ttft_ms)
        elif outcome.error is not None:
            self.health.record_failure(final.target.key, elapsed)
        else:
            self.health.release(final.target.key)
        usage = outcome.usage or estimate_usage(body, started.relay.text())
        ctx.malformed = outcome.malformed
        blocked = ctx.blocked
        cost = self._account(
            ctx,
            blocked.status_code if blocked else outcome.status,
            target=final.target,
            usage=usage,
            error=blocked or outcome.error,
            ttft_ms=started.ttft_ms,
            extra_cost=extra_cost,
            answer=(lambda: started.relay.text() + (final.relay.text() if final is not started else "")),
        )
        ctx.spent = (usage, cost - extra_cost)

    def _account(
        self,
        ctx: CallContext,
        status: int,
        *,
        target: Target | None = None,
        usage: Usage | None = None,
        error: GatewayError | None = None,
        ttft_ms: float | None = None,
        extra_cost: float = 0.0,
        answer: bytes | Callable[[], str] | None = None,
    ) -> float:
        """Queues the usage event; returns the cost it recorded. `answer` is the body, or what makes a
        stream's text: kept when the payload log wants this request's."""
        call, key = ctx.call, ctx.key
        payload: Payload | None = None
        if self.payloads is not None and self.payloads.wants(call.endpoint, status, call.headers):
            rewritten = ctx.hooks.rewritten if ctx.hooks else None  # masked data stays masked
            payload = self.payloads.capture(call.raw if rewritten is None else rewritten, answer)
        usage = usage or Usage()
        cost = (cost_usd(target.model, usage) if target is not None else 0.0) + extra_cost
        records = ctx.loop.records if ctx.loop else []
        row_id, detail = ctx.detail(error)
        end_user, tags = ctx.attribution()
        self.usage.put(
            UsageEvent(
                id=row_id,
                ts=time.time(),
                endpoint=call.endpoint,
                status=status,
                key_id=key.id if key else None,
                user_id=key.user_id if key else None,
                plan=key.plan.name if key and key.plan else None,
                requested_model=call.model if ctx.prompt is None else f"{PROMPT_PREFIX}{ctx.prompt}",
                route=ctx.resolved.route.name if ctx.resolved and ctx.resolved.route else None,
                provider=target.provider.name if target else None,
                model=target.candidate.model if target else None,
                error_code=error.error_code if error else None,
                stream=call.stream,
                usage=usage,
                cost_usd=cost,
                latency_ms=(time.perf_counter() - call.received) * 1000,
                ttft_ms=ttft_ms,
                attempts=sum(1 for r in records if r.outcome != "skipped"),
                detail=detail,
                trace_id=call.trace.trace_id,
                end_user=end_user,
                tags=tags,
                payload=payload,
            )
        )
        if key is not None and ctx.admission is not None and (usage.total_tokens or cost):
            # Off the caller's path: the limiter settles after the response has gone.
            admission = ctx.admission
            self.limiter.settle_soon(key, admission.limits, usage.total_tokens, cost, admission.end_user)
        if target is not None and cost and self.provider_spend is not None:
            self.provider_spend.add_soon(target.provider, cost)
        if target is not None and self.quotas is not None and has_quota(target.model):
            self.quotas.add_soon(target.key, target.model, usage.total_tokens)
        return cost


_NO_BUDGETS: dict[str, Any] = {}


def _later(call: Call, work: Callable[[], object]) -> None:
    """`work` after the response is written when the transport offers that (`Call.after`), else now."""
    if call.after is None:
        work()
    else:
        call.after.append(work)


_TEXT_ENDPOINTS = frozenset({"chat.completions", "completions", "messages", "responses"})
_OURS_LAST = ("x-polyroute-provider", "x-polyroute-model", "server-timing")


def _whole_usage(call: Call, result: Completed) -> Usage:
    """The upstream's usage; a text answer that came without any is counted by us and flagged, as streams are."""
    if result.usage != Usage() or call.endpoint not in _TEXT_ENDPOINTS:
        return result.usage
    body = call.parsed.body if call.parsed else {}
    return estimate_usage(body, answer_text(call.endpoint, result.body))
