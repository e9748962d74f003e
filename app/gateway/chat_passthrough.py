"""Chat Completions in, Chat Completions upstream: bytes pass through, only `model` is rewritten."""

from __future__ import annotations

from typing import Any

import msgspec

from app.accounting.events import Usage
from app.gateway.continuation import visible_chunks
from app.gateway.exchange import BadUpstreamReply, Served, UpstreamStreamError
from app.gateway.model_member import MODEL_MEMBER
from app.gateway.snapshot import ProviderEntry
from app.gateway.sse import frame_data
from app.gateway.stream_text import ChatChunkText
from app.providers.base import ProviderAdapter, UpstreamRequest
from app.providers.openai_compatible import quirks_for

__all__ = ["ChatPassthrough", "ChatPassthroughRelay", "count_field", "openai_usage"]

_DONE = b"[DONE]"
_decode = msgspec.json.decode
_encode = msgspec.json.encode


def count_field(holder: Any, name: str) -> int:
    """A token count from an upstream's usage object; anything that is not a number counts as 0."""
    value = holder.get(name) if isinstance(holder, dict) else None
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else 0


def openai_usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt_details, completion_details = raw.get("prompt_tokens_details"), raw.get("completion_tokens_details")
    return Usage(
        prompt_tokens=count_field(raw, "prompt_tokens"),
        completion_tokens=count_field(raw, "completion_tokens"),
        cached_tokens=count_field(prompt_details, "cached_tokens"),
        reasoning_tokens=count_field(completion_details, "reasoning_tokens"),
        audio_prompt_tokens=count_field(prompt_details, "audio_tokens"),  # gpt-4o-audio and the like
        audio_completion_tokens=count_field(completion_details, "audio_tokens"),
    )


class ChatPassthrough:
    """One chat request; the body is decoded once and re-encoded per target model."""

    upstream_dialect = "chat"

    def __init__(self, body: dict[str, Any], client_wants_usage: bool) -> None:
        self._body = body
        self._client_wants_usage = client_wants_usage
        self._encoded: dict[tuple[str, bool], bytes] = {}

    def upstream_body(self, provider: ProviderEntry, model: str, stream: bool) -> bytes:
        ask_usage = stream and quirks_for(provider).stream_usage
        cache_key = (model, ask_usage)
        found = self._encoded.get(cache_key)
        if found is None:
            body = dict(self._body)
            body["model"] = model
            if ask_usage:
                options = body.get("stream_options")
                body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
            found = self._encoded[cache_key] = _encode(body)
        return found

    def request(self, adapter: ProviderAdapter, provider: ProviderEntry, model: str, stream: bool) -> UpstreamRequest:
        return adapter.generate(provider, model, self.upstream_body(provider, model, stream), stream)

    def reply(self, body: bytes, served: Served) -> tuple[bytes, Usage]:
        try:
            doc = _decode(body)
        except msgspec.DecodeError:
            raise BadUpstreamReply("upstream returned a body that is not JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("choices"), list):
            error = doc.get("error") if isinstance(doc, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            raise BadUpstreamReply(f"upstream returned no choices: {message or 'unexpected body'}")
        return _encode(served.stamp(doc)), openai_usage(doc.get("usage")) or Usage()

    def stream(self, served: Served) -> ChatPassthroughRelay:
        return ChatPassthroughRelay(served, strip_usage=not self._client_wants_usage)


class ChatPassthroughRelay:
    """Frames go out as they came, the model renamed by a byte search; the usage frame is decoded in
    full, the rest in batches of up to 8 KiB into the few fields kept (text, finish reason, chunk id)."""

    __slots__ = ("_answer", "_model", "_seen", "_strip_usage", "malformed", "terminated", "usage")

    def __init__(self, served: Served, *, strip_usage: bool) -> None:
        self._model = b'"model":' + _encode(served.public_model)
        self._seen: bytes | None = None
        """The upstream's `"model":"..."` as the last frame spelled it: the next frames repeat it."""
        self._strip_usage = strip_usage
        self._answer = ChatChunkText()
        """Its text, finish reason and chunk id, not its frames (see app.gateway.stream_text)."""
        self.usage: Usage | None = None
        self.terminated = False
        self.malformed = 0

    def feed(self, frame: bytes) -> bytes:
        # The usual frame is one `data: {...}` line; anything else goes through the full parser.
        data = frame[6:] if frame.startswith(b"data: {") and b"\n" not in frame else frame_data(frame)
        if data is None:
            return b""  # comments and keep-alives
        if data == _DONE:
            self.terminated = True
            return b"data: [DONE]\n\n"
        if not (data.startswith(b"{") and data.endswith(b"}")):
            self.malformed += 1
            return b""
        if data.startswith(b'{"error"'):
            raise UpstreamStreamError(_error_message(data))
        if b'"usage"' in data and b'"usage":null' not in data:
            drop = self._take_usage(data)
            if drop:
                return b""
        self._answer.add(data)
        return b"".join((b"data: ", self._renamed(data), b"\n\n"))

    def _renamed(self, data: bytes) -> bytes:
        """`data` with its first `model` member naming the public model (what `MODEL_MEMBER.sub(count=1)` gives)."""
        seen = self._seen
        if seen is not None:
            at = data.find(seen)
            if at >= 0 and at == data.find(b'"model"'):  # the same spelling, and no earlier "model"
                return b"".join((data[:at], self._model, data[at + len(seen) :]))
        match = MODEL_MEMBER.search(data)
        if match is None:
            return data
        self._seen = match.group(0)
        return b"".join((data[: match.start()], self._model, data[match.end() :]))

    def _take_usage(self, data: bytes) -> bool:
        try:
            doc = _decode(data)
        except msgspec.DecodeError:
            return False
        self.usage = openai_usage(doc.get("usage")) or self.usage
        return self._strip_usage and not doc.get("choices")

    def continue_chunks(self, chunks: list[dict[str, Any]]) -> bytes:
        """Hub chunks from a recovery upstream, as the rest of this stream (same id, same framing)."""
        partial = self.text()
        out = []
        for chunk in visible_chunks(chunks, chunk_id=self._chunk_id(), partial=partial):
            if self._strip_usage and not chunk.get("choices") and chunk.get("usage") is not None:
                continue
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                self.usage = openai_usage(usage)
            out.append(b"data: " + _encode(chunk) + b"\n\n")
        return b"".join(out)

    def finish_recovered(self) -> bytes:
        return b"data: [DONE]\n\n"

    def _chunk_id(self) -> str | None:
        return self._answer.chunk_id

    def finish(self) -> bytes:
        # A stream that ended on a finish reason but without [DONE] still gets its terminator.
        return b"" if self.terminated else b"data: [DONE]\n\n"

    @property
    def complete(self) -> bool:
        return self.terminated or self._answer.finish_reason is not None

    def finish_reason(self) -> str | None:
        return self._answer.finish_reason

    def text(self) -> str:
        return self._answer.text()


def _error_message(data: bytes) -> str:
    try:
        doc = _decode(data)
        return str(doc["error"].get("message") or doc["error"])
    except (msgspec.DecodeError, KeyError, AttributeError, TypeError):
        return "upstream sent an error event"
