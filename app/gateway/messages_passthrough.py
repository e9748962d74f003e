"""Anthropic Messages in, Anthropic upstream: bytes pass through, only `model` is rewritten."""

from __future__ import annotations

from typing import Any

import msgspec

from app.accounting.events import Usage
from app.gateway.chat_passthrough import count_field
from app.gateway.exchange import BadUpstreamReply, Served, UpstreamStreamError
from app.gateway.model_member import sub_model
from app.gateway.snapshot import ProviderEntry
from app.gateway.sse import frame_data, frame_event
from app.gateway.stream_text import AnthropicText
from app.providers.base import ProviderAdapter, UpstreamRequest

__all__ = ["MessagesPassthrough", "MessagesPassthroughRelay", "anthropic_usage"]

_decode = msgspec.json.decode
_encode = msgspec.json.encode


def anthropic_usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    cache_read = count_field(raw, "cache_read_input_tokens")
    cache_write = count_field(raw, "cache_creation_input_tokens")
    return Usage(
        prompt_tokens=count_field(raw, "input_tokens") + cache_read + cache_write,
        completion_tokens=count_field(raw, "output_tokens"),
        cached_tokens=cache_read,
    )


def _strip_unsigned_thinking(body: dict[str, Any]) -> None:
    """Thinking blocks we produced from another upstream carry no signature; Anthropic rejects them."""
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            message["content"] = [
                b
                for b in content
                if not (isinstance(b, dict) and b.get("type") == "thinking" and not b.get("signature"))
            ]


class MessagesPassthrough:
    upstream_dialect = "anthropic"

    def __init__(self, body: dict[str, Any], raw: bytes) -> None:
        self._body = body
        self._unsigned = b'"signature":""' in raw or b'"signature": ""' in raw
        self._encoded: dict[tuple[str, bool], bytes] = {}

    def upstream_body(self, provider: ProviderEntry, model: str, stream: bool) -> bytes:
        found = self._encoded.get((model, stream))
        if found is None:
            body = {**self._body, "model": model}
            if self._unsigned:
                body["messages"] = [dict(m) if isinstance(m, dict) else m for m in body.get("messages") or []]
                _strip_unsigned_thinking(body)
            found = self._encoded[(model, stream)] = _encode(body)
        return found

    def request(self, adapter: ProviderAdapter, provider: ProviderEntry, model: str, stream: bool) -> UpstreamRequest:
        return adapter.generate(provider, model, self.upstream_body(provider, model, stream), stream)

    def reply(self, body: bytes, served: Served) -> tuple[bytes, Usage]:
        try:
            doc = _decode(body)
        except msgspec.DecodeError:
            raise BadUpstreamReply("upstream returned a body that is not JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("content"), list):
            raise BadUpstreamReply("upstream returned no message content")
        doc["model"] = served.public_model
        return _encode(doc), anthropic_usage(doc.get("usage")) or Usage()

    def stream(self, served: Served) -> MessagesPassthroughRelay:
        return MessagesPassthroughRelay(served)


class MessagesPassthroughRelay:
    """Decodes only message_start and message_delta (for usage); every other frame is forwarded as is."""

    def __init__(self, served: Served) -> None:
        self._model = b'"model":' + _encode(served.public_model)
        self._raw_usage: dict[str, Any] = {}
        self._text = AnthropicText()
        """The text deltas' text, not their frames (see app.gateway.stream_text)."""
        self._stop: str | None = None
        self.terminated = False
        self.malformed = 0

    @property
    def usage(self) -> Usage | None:
        return anthropic_usage(self._raw_usage) if self._raw_usage else None

    @property
    def complete(self) -> bool:
        return self.terminated

    def feed(self, frame: bytes) -> bytes:
        data = frame_data(frame)
        if data is None:
            return b""
        if not (data.startswith(b"{") and data.endswith(b"}")):
            self.malformed += 1
            return b""
        event = frame_event(frame) or b""
        if event == b"message_start":
            self._take_usage(data, "message")
            frame = sub_model(self._model, frame, count=1)
        elif event == b"message_delta":
            doc = self._take_usage(data, None)
            self._stop = (doc.get("delta") or {}).get("stop_reason") or self._stop
        elif event == b"content_block_delta":
            self._text.add(data)
        elif event == b"message_stop":
            self.terminated = True
        elif event == b"error":
            raise UpstreamStreamError(_error_message(data))
        return frame + b"\n\n"

    def _take_usage(self, data: bytes, inside: str | None) -> dict[str, Any]:
        try:
            doc = _decode(data)
        except msgspec.DecodeError:
            return {}
        holder = doc.get(inside) if inside else doc
        usage = holder.get("usage") if isinstance(holder, dict) else None
        if isinstance(usage, dict):
            self._raw_usage.update({k: v for k, v in usage.items() if v is not None})
        return doc if isinstance(doc, dict) else {}

    def finish(self) -> bytes:
        return b""

    def finish_reason(self) -> str | None:
        return self._stop

    def text(self) -> str:
        return self._text.text()


def _error_message(data: bytes) -> str:
    try:
        error = _decode(data).get("error") or {}
        return str(error.get("message") or "upstream sent an error event")
    except (msgspec.DecodeError, AttributeError):
        return "upstream sent an error event"
