"""The request-hook contract: what a hook sees, what it may answer. Imports nothing from `app`.

A hook is built once per configuration by calling its factory (the class, usually) with its
options, then asked about every request of the routes it is configured on:

- `before(ctx)`: allow, reject (status, code, message) or rewrite the request, in Chat
  Completions form whatever the caller's dialect (`ctx.request`; never mutate it, return a copy);
- `after(ctx, response)`: allow, reject or annotate (extra response headers); for streams it runs
  once at the end on the assembled text, before the stream's terminator is sent;
- `on_chunk(ctx, text_delta)` (optional): each piece of streamed text before it is sent.

Any of the three may be `async def`. A rejection becomes the caller's dialect's error; after a
stream started, the dialect's error event ends the stream instead of its terminator.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

__all__ = [
    "BaseHook",
    "HookContext",
    "HookFactory",
    "HookResponse",
    "HookResult",
    "HookVerdict",
    "RequestHook",
    "chat_text",
]

Action = Literal["allow", "reject", "rewrite", "annotate"]


@dataclass(frozen=True, slots=True)
class HookVerdict:
    """A hook's answer; build it with the class methods."""

    action: Action = "allow"
    status: int = 400
    code: str = "CONTENT_BLOCKED"
    message: str = ""
    request: dict[str, Any] | None = None
    """`rewrite`: the new request in Chat Completions form (`model` and `stream` are ignored)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """`annotate` (or `rewrite`): response headers to add, recorded in the request log too. From `before`
    they reach streams as well; from `after`, a stream that already started cannot take them."""
    restore: Mapping[str, str] = field(default_factory=dict)
    """`rewrite`: text the rewrite put in the request -> what it stood for. Wherever the answer (whole or
    streamed, in any dialect) contains a key, the caller gets the value instead."""

    @classmethod
    def allow(cls) -> HookVerdict:
        return _ALLOW

    @classmethod
    def reject(cls, message: str, *, status: int = 400, code: str = "CONTENT_BLOCKED") -> HookVerdict:
        return cls("reject", status=status, code=code, message=message)

    @classmethod
    def rewrite(
        cls, request: dict[str, Any], headers: Mapping[str, str] | None = None, restore: Mapping[str, str] | None = None
    ) -> HookVerdict:
        return cls("rewrite", request=request, headers=dict(headers or {}), restore=dict(restore or {}))

    @classmethod
    def annotate(cls, headers: Mapping[str, str]) -> HookVerdict:
        return cls("annotate", headers=dict(headers))


_ALLOW = HookVerdict()

HookResult = HookVerdict | Awaitable[HookVerdict]


@dataclass(frozen=True, slots=True)
class HookContext:
    """One request as hooks see it."""

    endpoint: str
    """`chat.completions`, `messages` or `responses`."""
    dialect: str
    """The caller's dialect: `openai` or `anthropic`."""
    model: str
    """The name the caller asked for."""
    route: str | None
    key_id: str | None
    user_id: str | None
    key_metadata: Mapping[str, Any]
    stream: bool
    request_id: str
    request: dict[str, Any]
    """The request in Chat Completions form (after earlier hooks' rewrites). Read-only."""
    count_tokens: Callable[[str], int] = len
    """The gateway's tokenizer (o200k_base), so hooks need not bring one."""


@dataclass(frozen=True, slots=True)
class HookResponse:
    """The answer as `after` sees it."""

    text: str
    """The answer's text (for streams: every text delta, assembled)."""
    stream: bool
    provider: str | None = None
    model: str | None = None
    cached: bool = False
    """Served from the response cache."""


@runtime_checkable
class RequestHook(Protocol):
    """What a hook implements (subclass `BaseHook` to get allowing defaults)."""

    name: ClassVar[str]

    def before(self, ctx: HookContext) -> HookResult:
        """Runs before the request is routed (and before the response cache is consulted)."""
        ...

    def after(self, ctx: HookContext, response: HookResponse) -> HookResult:
        """Runs on the whole answer; for a stream, at its end."""
        ...


HookFactory = Callable[[Mapping[str, Any]], RequestHook]
"""What an entry point of the `polyroute.hooks` group names: options in, a hook out."""


class BaseHook:
    """Allows everything; keeps its options. Define `on_chunk(ctx, text_delta)` to see stream pieces."""

    name: ClassVar[str] = "base"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options: Mapping[str, Any] = dict(options or {})

    def before(self, ctx: HookContext) -> HookResult:
        return _ALLOW

    def after(self, ctx: HookContext, response: HookResponse) -> HookResult:
        return _ALLOW


def chat_text(request: Mapping[str, Any]) -> tuple[str, int]:
    """Every text of a Chat Completions request (messages, text parts, tool arguments) and the message count."""
    parts: list[str] = []
    messages = request.get("messages")
    count = 0
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        count += 1
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p["text"]) for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                parts.append(function["arguments"])
    return "\n".join(parts), count
