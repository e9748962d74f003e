"""Mid-stream recovery: when a stream breaks after text reached the caller, continue it elsewhere.

The partial answer goes to the next candidate that accepts an assistant prefill, as a trailing
assistant message; its continuation arrives as chat chunks (the hub) and is fed into the
original relay, which renders it in the caller's dialect with the original ids. The caller sees
one answer with one finish reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from app.errors import GatewayError
from app.gateway.attempt_outcomes import StreamStarted, Target
from app.gateway.attempts import AttemptLoop
from app.gateway.bridges.upstream import UPSTREAM_BRIDGES
from app.gateway.exchange import Served
from app.gateway.translating import TranslatingExchange, TranslatingRelay
from app.providers.base import ProviderAdapter

__all__ = ["Continuation", "Recoverable", "can_prefill", "make_recovery"]

Json = dict[str, Any]


@runtime_checkable
class Recoverable(Protocol):
    """A relay that can render hub chunks from another upstream as the rest of its own stream."""

    def continue_chunks(self, chunks: list[Json]) -> bytes: ...

    def finish_recovered(self) -> bytes: ...

    def text(self) -> str: ...


def can_prefill(target: Target) -> bool:
    return target.model.prefill if target.model.prefill is not None else target.adapter.capabilities.prefill


class _Collector:
    """A client stream that keeps the hub chunks instead of rendering them."""

    def __init__(self) -> None:
        self.chunks: list[Json] = []

    def start(self) -> bytes:
        return b""

    def feed(self, chunk: Json) -> bytes:
        self.chunks.append(chunk)
        return b"."  # non-empty: the attempt loop's first-token gate counts any output

    def finish(self) -> bytes:
        return b""

    def take(self) -> list[Json]:
        taken, self.chunks = self.chunks, []
        return taken


class _HubClient:
    def __init__(self, chat: Json) -> None:
        self._chat = chat

    def to_chat(self) -> Json:
        return self._chat

    def reply(self, chat: Json, served: Served) -> bytes:
        raise NotImplementedError("continuations always stream")

    def stream(self, served: Served) -> _Collector:
        return _Collector()


@dataclass(slots=True)
class Continuation:
    started: StreamStarted
    collector: _Collector
    trim_leading: bool
    """The partial ended in whitespace: drop the continuation's leading whitespace once."""

    def take(self) -> list[Json]:
        chunks = self.collector.take()
        if not self.trim_leading:
            return chunks
        for chunk in chunks:
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                content = delta.get("content")
                if isinstance(content, str) and content:
                    delta["content"] = content.lstrip()
                    self.trim_leading = False
                    return chunks
        return chunks


def make_recovery(
    *, hub_chat: Callable[[], Json], targets: list[Target], new_loop: Callable[[Any], AttemptLoop]
) -> Callable[[str], Awaitable[Continuation | None]]:
    """An async `recover(partial_text)` over the remaining targets that accept a prefill."""
    candidates = [t for t in targets if can_prefill(t)]

    async def recover(partial: str) -> Continuation | None:
        if not candidates or not partial:
            return None
        chat = dict(hub_chat())
        chat["messages"] = [*chat.get("messages", []), {"role": "assistant", "content": partial}]
        chat.pop("n", None)
        exchanges: dict[str, TranslatingExchange] = {}

        def exchange_for(adapter: ProviderAdapter) -> TranslatingExchange:
            found = exchanges.get(adapter.dialect)
            if found is None:
                found = exchanges[adapter.dialect] = TranslatingExchange(
                    _HubClient(chat), UPSTREAM_BRIDGES[adapter.dialect]
                )
            return found

        loop = new_loop(exchange_for)
        loop.continuation = True  # a candidate that refuses the prefill is skipped for the next one
        try:
            started = await loop.run(candidates)
        except GatewayError:
            return None
        assert isinstance(started, StreamStarted)
        assert isinstance(started.relay, TranslatingRelay)
        collector = started.relay.out
        assert isinstance(collector, _Collector)
        return Continuation(started, collector, trim_leading=partial[-1:].isspace())

    return recover
