"""A request rewritten by a hook, in Chat Completions form, sent in place of the caller's.

Chat callers keep the byte passthrough (the new body is forwarded). Every other case goes through
the hub: the caller's client bridge is kept for the answer, and its chat form is replaced by the
rewrite. So a Messages caller on an Anthropic upstream, or a Responses caller on a native one,
is translated rather than passed through once a hook rewrote its request; dialect-only extras the
chat form does not carry are dropped in that case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from app.gateway.bridges.client import ClientBridge, ClientStream, MessagesClient
from app.gateway.bridges.upstream import UPSTREAM_BRIDGES
from app.gateway.call import Parsed
from app.gateway.chat_passthrough import ChatPassthrough
from app.gateway.completions import CompletionsOnChat
from app.gateway.exchange import Exchange, Served
from app.gateway.translating import TranslatingExchange
from app.providers.base import ProviderAdapter

__all__ = ["apply_rewrite"]

Json = dict[str, Any]
_KEPT = ("model", "stream", "stream_options")
"""Fields of the original chat form a rewrite cannot change."""


class _Rewritten:
    """The caller's client bridge with the rewrite as its chat form."""

    def __init__(self, inner: ClientBridge, chat: Json) -> None:
        self._inner = inner
        self._chat = chat
        self._merged: Json | None = None

    def to_chat(self) -> Json:
        if self._merged is None:
            base = self._inner.to_chat()
            merged = {k: v for k, v in self._chat.items() if k not in _KEPT}
            merged.update({k: base[k] for k in _KEPT if k in base})
            self._merged = merged
        return self._merged

    def reply(self, chat: Json, served: Served) -> bytes:
        return self._inner.reply(chat, served)

    def stream(self, served: Served) -> ClientStream:
        return self._inner.stream(served)


class _NotNative:
    """An adapter seen without native Responses support, so the endpoint builds its translating exchange."""

    def __init__(self, adapter: ProviderAdapter) -> None:
        self._adapter = adapter
        self.dialect = adapter.dialect
        self.kind = adapter.kind
        self.capabilities = replace(adapter.capabilities, responses_native=False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adapter, name)


def apply_rewrite(parsed: Parsed, endpoint: str, raw_size: int, chat: Json) -> None:
    """Point `parsed` at the rewritten request: its exchanges and its chat form (for mid-stream recovery)."""
    original = parsed.exchanges
    made: dict[str, Exchange] = {}
    options = parsed.body.get("stream_options")
    wants_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    chat_body = {**chat, "model": parsed.body.get("model"), "stream": parsed.body.get("stream")}
    chat_body = {k: v for k, v in chat_body.items() if v is not None}
    if isinstance(options, dict):
        chat_body["stream_options"] = options

    def exchange_for(adapter: ProviderAdapter) -> Exchange:
        found = made.get(adapter.dialect)
        if found is not None:
            return found
        if endpoint == "chat.completions" and adapter.dialect == "chat":
            found = ChatPassthrough(chat_body, wants_usage)
        else:
            inner = original(cast(ProviderAdapter, _NotNative(adapter)))
            if isinstance(inner, CompletionsOnChat):  # a chat-form rewrite cannot go to a completions endpoint
                inner = inner.via_chat
            if isinstance(inner, TranslatingExchange):
                found = TranslatingExchange(_Rewritten(inner.client, chat), inner.upstream)
            else:  # a Messages caller on an Anthropic upstream: through the hub like any other
                client = MessagesClient(parsed.body, input_tokens=raw_size // 4)
                found = TranslatingExchange(_Rewritten(client, chat), UPSTREAM_BRIDGES[adapter.dialect])
        made[adapter.dialect] = found
        return found

    parsed.exchanges = exchange_for
    hub: Callable[[], Json] = lambda: chat_body  # noqa: E731 - the field holds a callable
    parsed.hub_chat = hub
