"""Crossing dialects: client bridge -> chat hub -> upstream bridge, for whole answers and streams."""

from __future__ import annotations

from typing import Any

import msgspec

from app.accounting.events import Usage
from app.gateway.bridges.client import ClientBridge, ClientStream
from app.gateway.bridges.upstream import MalformedFrame, UpstreamBridge, UpstreamChunks, decode_reply
from app.gateway.chat_passthrough import openai_usage
from app.gateway.continuation import visible_chunks
from app.gateway.exchange import Served
from app.gateway.snapshot import ProviderEntry
from app.gateway.sse import frame_data, frame_event
from app.gateway.stream_text import StreamText
from app.providers.base import ProviderAdapter, UpstreamRequest

__all__ = ["TranslatingExchange", "TranslatingRelay"]

Json = dict[str, Any]
_encode = msgspec.json.encode


class TranslatingExchange:
    """One request crossing from the caller's dialect to one upstream dialect."""

    def __init__(self, client: ClientBridge, upstream: UpstreamBridge) -> None:
        self.client = client
        self.upstream = upstream
        self.upstream_dialect = upstream.dialect
        self._encoded: dict[tuple[str, bool], bytes] = {}

    def upstream_body(self, provider: ProviderEntry, model: str, stream: bool) -> bytes:
        found = self._encoded.get((model, stream))
        if found is None:
            found = self._encoded[(model, stream)] = _encode(
                self.upstream.request(self.client.to_chat(), model, stream)
            )
        return found

    def request(self, adapter: ProviderAdapter, provider: ProviderEntry, model: str, stream: bool) -> UpstreamRequest:
        return adapter.generate(provider, model, self.upstream_body(provider, model, stream), stream)

    def reply(self, body: bytes, served: Served) -> tuple[bytes, Usage]:
        chat = self.upstream.reply(decode_reply(body), served.public_model)
        return self.client.reply(chat, served), openai_usage(chat.get("usage")) or Usage()

    def stream(self, served: Served) -> TranslatingRelay:
        return TranslatingRelay(self.upstream.chunks(served.public_model), self.client.stream(served))


class TranslatingRelay:
    """Upstream frames -> chat chunks -> the caller's frames; keeps usage, text and finish reason."""

    def __init__(self, chunks: UpstreamChunks, out: ClientStream) -> None:
        self._chunks = chunks
        self._out = out
        self._started = False
        self._text = StreamText()
        self._finish: str | None = None
        self.usage: Usage | None = None
        self.malformed = 0

    @property
    def out(self) -> ClientStream:
        return self._out

    @property
    def terminated(self) -> bool:
        return self._chunks.done

    @property
    def complete(self) -> bool:
        return self._chunks.complete

    def _emit(self, chunks: list[Json]) -> bytes:
        parts: list[bytes] = []
        if not self._started:
            self._started = True
            parts.append(self._out.start())
        for chunk in chunks:
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                self.usage = openai_usage(usage)
            for choice in chunk.get("choices") or ():
                if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta") or {}
                if isinstance(delta.get("content"), str):
                    self._text.add(delta["content"])
                if choice.get("finish_reason"):
                    self._finish = str(choice["finish_reason"])
            parts.append(self._out.feed(chunk))
        return b"".join(parts)

    def feed(self, frame: bytes) -> bytes:
        data = frame_data(frame)
        if data is None:
            return b""
        try:
            chunks = self._chunks.feed(frame_event(frame), data)
        except MalformedFrame:
            self.malformed += 1
            return b""
        return self._emit(chunks) if chunks else b""

    def finish(self) -> bytes:
        return self._emit(self._chunks.finish()) + self._out.finish()

    def continue_chunks(self, chunks: list[Json]) -> bytes:
        """Hub chunks from a recovery upstream, rendered as the rest of this stream."""
        partial = self.text()
        return self._emit(visible_chunks(chunks, chunk_id=None, partial=partial))

    def finish_recovered(self) -> bytes:
        return self._out.finish()

    def fail(self, message: str) -> bytes | None:
        """The caller dialect's own end for a broken stream, when it has one (Responses: response.failed)."""
        fail = getattr(self._out, "fail", None)
        if fail is None:
            return None
        head = b"" if self._started else self._out.start()
        self._started = True
        out: bytes = fail(message)
        return head + out

    def text(self) -> str:
        return self._text.text()

    def finish_reason(self) -> str | None:
        return self._finish
