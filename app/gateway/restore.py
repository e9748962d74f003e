"""Put back in the answer what a request hook took out of the request (`pii` with `restore: true`).

A hook that replaced values with placeholders (`[EMAIL_1]`) says which; the model answers with the
placeholders, and the caller gets the values. Works on the caller-dialect bytes the gateway sends:
a whole answer by byte replacement (placeholders and values JSON-escaped), a stream frame by frame.
A placeholder split across two deltas (`[EMA` + `IL_1]`) is held back from the first and completed
by the second, so the caller never sees half of one; whatever is held when a non-text frame comes
(the end of a block, the finish chunk) goes out first, in a delta of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from app.gateway.answer_text import frame_parts

if TYPE_CHECKING:
    from app.gateway.call import Reply
    from app.gateway.call_context import CallContext

__all__ = ["Restorer", "restore_body", "restore_stream", "restored"]

_decode = msgspec.json.decode
_encode = msgspec.json.encode


def _json(data: bytes) -> Any:
    try:
        return _decode(data)
    except msgspec.DecodeError:
        return None


def _escaped(text: str) -> bytes:
    return _encode(text)[1:-1]


def restore_body(body: bytes, mapping: Mapping[str, str]) -> bytes:
    """Every placeholder in a JSON answer replaced by its value."""
    for placeholder, value in mapping.items():
        key = _escaped(placeholder)
        if key in body:
            body = body.replace(key, _escaped(value))
    return body


def _text_of(endpoint: str, event: bytes | None, doc: Any) -> str | None:
    """The text delta a frame carries in the caller's dialect; None for a frame that carries none."""
    if not isinstance(doc, dict):
        return None
    if endpoint in ("chat.completions", "completions"):
        choices = doc.get("choices")
        if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
            return None
        holder = choices[0].get("delta") if endpoint == "chat.completions" else choices[0]
        field = "content" if endpoint == "chat.completions" else "text"
        text = holder.get(field) if isinstance(holder, dict) else None
        return text if isinstance(text, str) else None
    if endpoint == "messages" and event in (None, b"content_block_delta"):
        delta = doc.get("delta")
        if isinstance(delta, dict) and delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
            return str(delta["text"])
        return None
    if (
        endpoint == "responses"
        and doc.get("type") == "response.output_text.delta"
        and isinstance(doc.get("delta"), str)
    ):
        return str(doc["delta"])
    return None


def _with_text(endpoint: str, doc: dict[str, Any], text: str) -> dict[str, Any]:
    out = dict(doc)
    if endpoint in ("chat.completions", "completions"):
        choice = dict(out["choices"][0])
        if endpoint == "chat.completions":
            choice["delta"] = {**choice["delta"], "content": text}
        else:
            choice["text"] = text
        out["choices"] = [choice]
    elif endpoint == "messages":
        out["delta"] = {**out["delta"], "text": text}
    else:
        out["delta"] = text
    return out


class Restorer:
    """One stream's restoration: `feed` each piece, in order; text held back goes out before the next
    frame that carries no text."""

    def __init__(self, endpoint: str, mapping: Mapping[str, str]) -> None:
        self._endpoint = endpoint
        self._mapping = dict(mapping)
        self._prefixes = {p[:i] for p in self._mapping for i in range(1, len(p))}
        self._longest = max((len(p) for p in self._mapping), default=0)
        self._held = ""
        self._last: tuple[bytes | None, dict[str, Any]] | None = None
        """The last text frame (event name, decoded data): a held remainder goes out in its shape."""

    def _restore(self, text: str) -> str:
        for placeholder, value in self._mapping.items():
            if placeholder in text:
                text = text.replace(placeholder, value)
        return text

    def _split(self, text: str) -> tuple[str, str]:
        """(what can go out, the end that may be the start of a placeholder)."""
        for size in range(min(self._longest - 1, len(text)), 0, -1):
            if text[-size:] in self._prefixes:
                return text[:-size], text[-size:]
        return text, ""

    def _frame(self, event: bytes | None, doc: dict[str, Any], text: str) -> bytes:
        data = b"data: " + _encode(_with_text(self._endpoint, doc, text))
        return (b"event: " + event + b"\n" + data) if event is not None else data

    def _flush(self) -> bytes:
        if not self._held or self._last is None:
            self._held = ""
            return b""
        event, doc = self._last
        held, self._held = self._held, ""
        return self._frame(event, doc, self._restore(held)) + b"\n\n"

    def feed(self, piece: bytes) -> bytes:
        out: list[bytes] = []
        frames = piece.split(b"\n\n")
        for i, frame in enumerate(frames):
            last = i == len(frames) - 1
            if not frame.strip():
                if not last:
                    out.append(frame + b"\n\n")
                elif frame:
                    out.append(frame)
                continue
            event, data = frame_parts(frame)
            doc = _json(data) if data and data[:1] == b"{" else None
            text = _text_of(self._endpoint, event, doc) if doc is not None else None
            if text is None:
                # A comment or a ping is no end of the text: what is held waits for the next delta.
                ping = doc is None or event == b"ping" or (isinstance(doc, dict) and doc.get("type") == "ping")
                flushed = b"" if ping else self._flush()
                if flushed:
                    out.append(flushed)
                out.append(restore_body(frame, self._mapping) + (b"" if last else b"\n\n"))
                continue
            assert isinstance(doc, dict)
            self._last = (event, doc)
            ready, self._held = self._split(self._restore(self._held + text))
            rebuilt = frame if ready == text else self._frame(event, doc, ready)
            out.append(rebuilt + (b"" if last else b"\n\n"))
        return b"".join(out)

    def finish(self) -> bytes:
        """What is still held when the stream ends without a closing frame."""
        return self._flush()


async def restore_stream(
    source: AsyncIterator[bytes], endpoint: str, mapping: Mapping[str, str]
) -> AsyncIterator[bytes]:
    restorer = Restorer(endpoint, mapping)
    try:
        async for piece in source:
            out = restorer.feed(piece)
            if out:
                yield out
        tail = restorer.finish()
        if tail:
            yield tail
    finally:
        close = getattr(source, "aclose", None)
        if close is not None:
            await close()


def restored(ctx: CallContext, reply: Reply) -> Reply:
    """The reply with what a hook's rewrite took out of the request put back (after the cache and the hooks'
    own checks, which see the answer as the upstream gave it); the reply itself when there is nothing to do."""
    mapping = ctx.hooks.restore if ctx.hooks is not None else None
    if mapping:
        if reply.stream is not None:
            reply.stream = restore_stream(reply.stream, ctx.call.endpoint, mapping)
        else:
            reply.body = restore_body(reply.body, mapping)
    return reply
