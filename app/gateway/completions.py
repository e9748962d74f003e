"""Legacy Completions in (`POST /v1/completions`): an upstream's own endpoint where it has one, else the chat hub.

Servers for open models (vLLM, llama.cpp, Ollama, Together, Fireworks, OpenRouter) keep a
completions endpoint: there the prompt must reach the model as it is, with no chat template around
it (base models, fill-in-the-middle), so the request passes through untouched but for `model`. OpenAI
itself serves completions only for its instruct and base models; every other model, and every other
dialect, gets the request through the chat hub (app/translate/completions.py).
"""

from __future__ import annotations

from typing import Any

import msgspec

from app.accounting.events import Usage
from app.gateway.chat_passthrough import ChatPassthrough, ChatPassthroughRelay, openai_usage
from app.gateway.continuation import visible_chunks
from app.gateway.exchange import Exchange, Served, StreamRelay
from app.gateway.snapshot import ProviderEntry
from app.gateway.translating import TranslatingExchange
from app.providers.base import ProviderAdapter, UpstreamRequest
from app.providers.openai import OpenAIAdapter
from app.providers.openai_compatible import quirks_for
from app.translate.completions import ChatToCompletionStream

__all__ = ["CompletionsOnChat", "NativeCompletions", "has_native_completions"]

_encode = msgspec.json.encode

OPENAI_COMPLETION_MODELS = ("gpt-3.5-turbo-instruct", "gpt-35-turbo-instruct", "davinci-002", "babbage-002")
"""The models OpenAI's own /v1/completions serves (dated variants start with these names), also as
Azure spells them (an Azure deployment named after its model, as they usually are)."""


def has_native_completions(adapter: ProviderAdapter, provider: ProviderEntry, model: str) -> bool:
    if not isinstance(adapter, OpenAIAdapter):  # the demo provider, Anthropic, Gemini
        return False
    if adapter.kind in ("openai", "azure"):
        return model.startswith(OPENAI_COMPLETION_MODELS)
    return quirks_for(provider).completions


class NativeCompletions(ChatPassthrough):
    """The upstream's own /completions: decoded once, re-encoded per target model, answered as it came."""

    def request(self, adapter: ProviderAdapter, provider: ProviderEntry, model: str, stream: bool) -> UpstreamRequest:
        assert isinstance(adapter, OpenAIAdapter)  # has_native_completions chose it
        return adapter.endpoint(provider, "/completions", self.upstream_body(provider, model, stream), model)

    def stream(self, served: Served) -> NativeCompletionsRelay:
        return NativeCompletionsRelay(served, strip_usage=not self._client_wants_usage)


class NativeCompletionsRelay(ChatPassthroughRelay):
    """Completion chunks pass through like chat chunks (`choices[].text` is kept as the text); a
    mid-stream recovery's hub chunks are rendered as completion chunks with the stream's own id."""

    __slots__ = ("_public",)

    def __init__(self, served: Served, *, strip_usage: bool) -> None:
        super().__init__(served, strip_usage=strip_usage)
        self._public = served.public_model

    def continue_chunks(self, chunks: list[dict[str, Any]]) -> bytes:
        render = ChatToCompletionStream(self._public, None, wants_usage=not self._strip_usage)
        out: list[bytes] = []
        for chunk in visible_chunks(chunks, chunk_id=self._chunk_id(), partial=self.text()):
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                self.usage = openai_usage(usage)
            out.extend(b"data: " + _encode(doc) + b"\n\n" for doc in render.feed(chunk))
        return b"".join(out)


class CompletionsOnChat:
    """A chat-dialect upstream (OpenAI, OpenAI-compatible, demo): which way is decided per provider and
    model when an attempt's request is built, and remembered for its answer."""

    upstream_dialect = "chat"

    def __init__(self, native: NativeCompletions, via_chat: TranslatingExchange) -> None:
        self.native = native
        self.via_chat = via_chat
        self._chosen: dict[tuple[str, str], Exchange] = {}

    def _way(self, served: Served) -> Exchange:
        return self._chosen.get((served.provider, served.model), self.via_chat)

    def upstream_body(self, provider: ProviderEntry, model: str, stream: bool) -> bytes:
        return self._chosen.get((provider.name, model), self.via_chat).upstream_body(provider, model, stream)

    def request(self, adapter: ProviderAdapter, provider: ProviderEntry, model: str, stream: bool) -> UpstreamRequest:
        native = has_native_completions(adapter, provider, model)
        way: Exchange = self.native if native else self.via_chat
        self._chosen[(provider.name, model)] = way
        return way.request(adapter, provider, model, stream)

    def reply(self, body: bytes, served: Served) -> tuple[bytes, Usage]:
        return self._way(served).reply(body, served)

    def stream(self, served: Served) -> StreamRelay:
        return self._way(served).stream(served)
