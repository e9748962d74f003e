"""The hook runner: which hooks a route gets, what a rejection becomes, and how a rewrite reaches the upstream."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from app.api.inference.chat import parse_chat
from app.api.inference.messages import parse_messages
from app.catalog.specs import Limits, RouteParams, TargetSpec
from app.errors import ContentBlockedError, ContextLengthExceededError, HookRejectedError, InternalError
from app.gateway.call import Call, Parsed
from app.gateway.hooks_runner import HookRunner
from app.gateway.snapshot import KeyRecord, ProviderEntry, ResolvedModel, RouteEntry
from app.gateway.tracing import trace_from_header
from app.providers.registry import adapter_for
from hooks.base import BaseHook, HookContext, HookResult, HookVerdict
from tests.entries import provider_entry

KEY = KeyRecord("key1", "k", "sk-poly-x", None, None, Limits(), None)


def call_for(endpoint: str, dialect: str, body: dict[str, Any]) -> tuple[Call, Parsed]:
    raw = json.dumps(body).encode()
    parse = parse_chat if endpoint == "chat.completions" else parse_messages
    call = Call(endpoint, dialect, {}, raw, parse, trace_from_header(None), "req_1", time.perf_counter())
    call.parsed = parsed = parse(raw)
    return call, parsed


def resolved(**params: Any) -> ResolvedModel:
    route = RouteEntry("route/r", "priority-fallback", RouteParams(**params), (TargetSpec("p", "m"),))
    return ResolvedModel("route/r", route, route.targets)


def provider(kind: str) -> ProviderEntry:
    return provider_entry(kind=kind, base_url="https://example.test/v1", api_key="sk", timeout_s=30)


class Redact(BaseHook):
    name: ClassVar[str] = "redact"

    def before(self, ctx: HookContext) -> HookResult:
        messages = [
            {**m, "content": str(m.get("content")).replace("4111-1111", "[card]")} for m in ctx.request["messages"]
        ]
        return HookVerdict.rewrite({**ctx.request, "messages": messages})


class Refuse(BaseHook):
    name: ClassVar[str] = "refuse"

    async def before(self, ctx: HookContext) -> HookVerdict:  # async hooks are awaited
        return HookVerdict.reject(
            str(self.options.get("why", "no")),
            status=int(self.options.get("status", 400)),
            code=str(self.options.get("code", "CONTENT_BLOCKED")),
        )


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    import hooks

    builtins: Mapping[str, Any] = {**hooks._BUILTINS, "redact": Redact, "refuse": Refuse}
    monkeypatch.setattr(hooks, "_BUILTINS", builtins)


@pytest.mark.usefixtures("registry")
async def test_a_chat_rewrite_is_what_the_upstream_gets_and_the_passthrough_stays() -> None:
    call, parsed = call_for(
        "chat.completions",
        "openai",
        {"model": "route/r", "messages": [{"role": "user", "content": "card 4111-1111"}], "stream": True},
    )
    run = await HookRunner(("redact",)).before(call, parsed, KEY, resolved())
    assert run is not None and run.rewritten_by == ["redact"]
    for kind in ("openai", "anthropic", "gemini"):
        adapter = adapter_for(kind)
        body = parsed.exchanges(adapter).upstream_body(provider(kind), "m", True).decode()
        assert "[card]" in body and "4111" not in body, kind
    assert parsed.hub_chat is not None and parsed.hub_chat()["messages"][0]["content"] == "card [card]"


@pytest.mark.usefixtures("registry")
async def test_a_messages_rewrite_reaches_an_anthropic_upstream_through_the_hub() -> None:
    body = {"model": "route/r", "max_tokens": 10, "messages": [{"role": "user", "content": "card 4111-1111"}]}
    call, parsed = call_for("messages", "anthropic", body)
    await HookRunner(("redact",)).before(call, parsed, KEY, resolved())
    for kind in ("anthropic", "openai"):
        sent = json.loads(parsed.exchanges(adapter_for(kind)).upstream_body(provider(kind), "m", False))
        assert "[card]" in json.dumps(sent) and "4111" not in json.dumps(sent), kind
    assert sent["model"] == "m"


@pytest.mark.usefixtures("registry")
@pytest.mark.parametrize(
    ("options", "error", "status", "code"),
    [
        ({}, ContentBlockedError, 400, "CONTENT_BLOCKED"),
        ({"code": "CONTEXT_LENGTH_EXCEEDED"}, ContextLengthExceededError, 400, "CONTEXT_LENGTH_EXCEEDED"),
        ({"status": 451, "code": "LEGAL"}, HookRejectedError, 451, "LEGAL"),
    ],
)
async def test_a_rejection_becomes_the_matching_gateway_error(
    options: dict[str, Any], error: type[Exception], status: int, code: str
) -> None:
    call, parsed = call_for(
        "chat.completions", "openai", {"model": "route/r", "messages": [{"role": "user", "content": "x"}]}
    )
    runner = HookRunner(("refuse",), {"refuse": {"why": "because", **options}})
    with pytest.raises(error) as caught:
        await runner.before(call, parsed, KEY, resolved())
    assert (caught.value.status_code, caught.value.error_code, caught.value.detail) == (status, code, "because")  # type: ignore[attr-defined]


@pytest.mark.usefixtures("registry")
async def test_route_hooks_follow_the_global_ones_with_their_own_options_and_are_built_once() -> None:
    runner = HookRunner(("redact",), {"deny-list": {"keywords": ["global"]}})
    params = RouteParams(hooks=["deny-list"], hook_options={"deny-list": {"keywords": ["route"]}})
    chain = runner.chain(params, "route/r")
    assert [h.name for h in chain] == ["redact", "deny-list"]
    assert runner.chain(params, "route/r") is chain
    assert runner.chain(RouteParams(), "route/r") == runner.everywhere
    call, parsed = call_for(
        "chat.completions", "openai", {"model": "route/r", "messages": [{"role": "user", "content": "a route word"}]}
    )
    with pytest.raises(ContentBlockedError):
        await runner.before(
            call, parsed, KEY, resolved(hooks=["deny-list"], hook_options={"deny-list": {"keywords": ["route"]}})
        )


def test_a_misconfigured_route_hook_is_a_500_naming_it_and_a_global_one_stops_the_start() -> None:
    with pytest.raises(InternalError, match="max-prompt"):
        HookRunner().chain(RouteParams(hooks=["max-prompt"]), "route/r")
    with pytest.raises(InternalError, match="nope"):
        HookRunner().chain(RouteParams(hooks=["nope"]), "route/r")
    with pytest.raises(ValueError, match="max_tokens"):
        HookRunner(("max-prompt",))
