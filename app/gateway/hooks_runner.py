"""Runs request hooks around a call: which hooks apply, their verdicts, and what a verdict does.

Global hooks (POLYROUTE_HOOKS, built at start-up: a misconfigured one stops the start) run on
every chat, messages and responses request; a route's `params.hooks` run after them, with the
route's `params.hook_options` over the global options for each of those names. With no hook
configured the pipeline's only cost is `runner.everywhere or params.hooks`.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import hooks
from app.accounting.tokens import count_tokens
from app.catalog.specs import RouteParams
from app.errors import ContentBlockedError, ContextLengthExceededError, GatewayError, HookRejectedError, InternalError
from app.gateway.answer_text import answer_text
from app.gateway.call import Call, Parsed
from app.gateway.hook_rewrite import apply_rewrite
from app.gateway.snapshot import KeyRecord, ResolvedModel
from hooks.base import HookContext, HookResponse, HookResult, HookVerdict, RequestHook

__all__ = ["HookRun", "HookRunner"]

log = logging.getLogger("polyroute.hooks")

_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]{0,63}$")
_MAX_ROUTE_CHAINS = 512


async def _ask(hook: RequestHook, step: str, *args: Any) -> HookVerdict:
    """One hook's verdict; a hook that raises or answers nonsense is a logged 500, never a pass."""
    try:
        result: HookResult = getattr(hook, step)(*args)
        verdict = await result if inspect.isawaitable(result) else result
    except Exception as exc:
        log.exception("request hook %s failed in %s", hook.name, step)
        raise InternalError(f"The request hook '{hook.name}' failed: {type(exc).__name__}") from None
    if not isinstance(verdict, HookVerdict):
        log.error("request hook %s returned %s from %s, not a HookVerdict", hook.name, type(verdict).__name__, step)
        raise InternalError(f"The request hook '{hook.name}' answered something that is not a HookVerdict")
    return verdict


def _error(verdict: HookVerdict, hook: RequestHook) -> GatewayError:
    message = verdict.message or f"Rejected by the request hook '{hook.name}'"
    if verdict.status == 400 and verdict.code == "CONTENT_BLOCKED":
        return ContentBlockedError(message)
    if verdict.status == 400 and verdict.code == "CONTEXT_LENGTH_EXCEEDED":
        return ContextLengthExceededError(message)
    return HookRejectedError(message, status=verdict.status, code=verdict.code)


@dataclass(slots=True)
class HookRun:
    """One request's hooks and what they said."""

    chain: tuple[RequestHook, ...]
    ctx: HookContext
    chunk_hooks: tuple[RequestHook, ...]
    headers: dict[str, str] = field(default_factory=dict)
    """Annotations for the response (and the request log)."""
    rewritten_by: list[str] = field(default_factory=list)
    restore: dict[str, str] = field(default_factory=dict)
    """What rewrites took out of the request, to put back in the answer (`app.gateway.restore`)."""

    @property
    def rewritten(self) -> dict[str, Any] | None:
        return self.ctx.request if self.rewritten_by else None

    def detail(self) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        if self.rewritten_by:
            out["rewritten_by"] = self.rewritten_by
        if self.headers:
            out["headers"] = self.headers
        return out or None

    def _annotate(self, verdict: HookVerdict, hook: RequestHook) -> None:
        for name, value in verdict.headers.items():
            text = str(value)
            if _HEADER_NAME.match(name) and "\r" not in text and "\n" not in text:
                self.headers[name.lower()] = text[:1000]
            else:
                log.warning("hook %s: header %r dropped (invalid name or value)", hook.name, name)

    async def after(self, body: bytes, *, endpoint: str, provider: str | None, model: str, cached: bool) -> None:
        """Runs `after` on a whole answer; raises the rejection."""
        response = HookResponse(answer_text(endpoint, body), False, provider, model, cached)
        await self._after(response)

    async def _after(self, response: HookResponse) -> GatewayError | None:
        for hook in self.chain:
            verdict = await _ask(hook, "after", self.ctx, response)
            if verdict.action == "reject":
                raise _error(verdict, hook)
            if verdict.action == "annotate":
                self._annotate(verdict, hook)
        return None

    async def at_end(self, text: str, *, provider: str | None, model: str, cached: bool) -> GatewayError | None:
        """`after` on a finished stream's text: the rejection is returned, to end the stream with."""
        try:
            return await self._after(HookResponse(text, True, provider, model, cached))
        except GatewayError as exc:  # a broken hook too: an error event, never a cut connection
            return exc

    async def on_chunk(self, delta: str) -> GatewayError | None:
        for hook in self.chunk_hooks:
            try:
                verdict = await _ask(hook, "on_chunk", self.ctx, delta)
            except GatewayError as exc:
                return exc
            if verdict.action == "reject":
                return _error(verdict, hook)
        return None


class HookRunner:
    """Built once by `create_app`; route chains are built on first use and kept per route params object."""

    def __init__(self, names: tuple[str, ...] = (), options: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.names = names
        self._options = {k: dict(v) for k, v in (options or {}).items()}
        self.everywhere: tuple[RequestHook, ...] = tuple(hooks.build(n, self._options.get(n)) for n in names)
        self._routes: dict[int, tuple[RouteParams, tuple[RequestHook, ...]]] = {}

    def chain(self, params: RouteParams, route: str) -> tuple[RequestHook, ...]:
        if not params.hooks:
            return self.everywhere
        found = self._routes.get(id(params))
        if found is not None and found[0] is params:
            return found[1]
        chain: list[RequestHook] = [
            h for n, h in zip(self.names, self.everywhere, strict=True) if n not in params.hooks
        ]
        for name in dict.fromkeys(params.hooks):
            options = {**self._options.get(name, {}), **params.hook_options.get(name, {})}
            try:
                chain.append(hooks.build(name, options))
            except (LookupError, ValueError, TypeError, re.error) as exc:
                log.error("route %s: request hook %r cannot be built: %s", route, name, exc)
                raise InternalError(f"The request hook '{name}' of this route is misconfigured: {exc}") from None
        if len(self._routes) >= _MAX_ROUTE_CHAINS:
            self._routes.clear()  # old catalog versions' params
        built = tuple(chain)
        self._routes[id(params)] = (params, built)
        return built

    async def before(self, call: Call, parsed: Parsed, key: KeyRecord, resolved: ResolvedModel) -> HookRun | None:
        """Runs every `before`; raises a rejection, applies a rewrite. None: this endpoint has no chat form."""
        if parsed.hub_chat is None:
            return None
        route = resolved.route.name if resolved.route else None
        chain = self.chain(resolved.params, route or resolved.name)
        if not chain:
            return None
        ctx = HookContext(
            endpoint=call.endpoint,
            dialect=call.dialect,
            model=parsed.model,
            route=route,
            key_id=key.id,
            user_id=key.user_id,
            key_metadata=key.metadata,
            stream=parsed.stream,
            request_id=call.request_id,
            request=parsed.hub_chat(),
            count_tokens=count_tokens,
        )
        run = HookRun(chain, ctx, tuple(h for h in chain if callable(getattr(h, "on_chunk", None))))
        for hook in chain:
            verdict = await _ask(hook, "before", run.ctx)
            if verdict.action == "reject":
                raise _error(verdict, hook)
            if verdict.action == "annotate":
                run._annotate(verdict, hook)
            elif verdict.action == "rewrite":
                if not isinstance(verdict.request, dict) or not isinstance(verdict.request.get("messages"), list):
                    raise InternalError(f"The request hook '{hook.name}' rewrote the request without a messages list")
                run.ctx = replace(run.ctx, request=verdict.request)
                run.rewritten_by.append(hook.name)
                run._annotate(verdict, hook)
                run.restore.update(verdict.restore)
        if run.rewritten_by:
            apply_rewrite(parsed, call.endpoint, len(call.raw), run.ctx.request)
        return run
