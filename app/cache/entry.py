"""What the cache keeps per answer, and how a stream is replayed with the caller's usage choice.

A whole answer is kept as the caller's bytes. A stream is kept as the caller-dialect pieces
exactly as they were written to the client, so a replay has the original chunking. Chat
Completions is the one dialect where the caller chooses whether a usage chunk comes
(`stream_options.include_usage`): it is kept apart and put back before `[DONE]` only for callers
that ask, taken verbatim when the first caller asked too, else built from the stored usage.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from app.accounting.events import Usage

__all__ = ["CachedAnswer", "decode_entry", "encode_entry", "replay_pieces", "split_usage"]

_DONE = b"data: [DONE]"
_json_decode = msgspec.json.decode
_json_encode = msgspec.json.encode


class CachedAnswer(msgspec.Struct, kw_only=True):
    provider: str
    model: str
    usage: Usage
    cost_usd: float
    """What the first request cost: a hit saves this much."""
    body: bytes = b""
    """A whole answer, exactly as it was sent."""
    pieces: list[bytes] = msgspec.field(default_factory=list)
    """A stream, each write to the client as it was sent (a chat usage chunk removed)."""
    usage_frame: bytes | None = None
    created: float = msgspec.field(default_factory=time.time)

    @property
    def stream(self) -> bool:
        return bool(self.pieces)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(CachedAnswer)


def encode_entry(entry: CachedAnswer) -> bytes:
    return _encoder.encode(entry)


def decode_entry(raw: bytes) -> CachedAnswer | None:
    """None for an entry this version cannot read (it then counts as a miss and is overwritten)."""
    try:
        return _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _frames(piece: bytes) -> list[bytes]:
    return [f + b"\n\n" for f in piece.split(b"\n\n") if f]


def _is_usage_chunk(frame: bytes) -> bool:
    if not frame.startswith(b"data: {") or b'"usage"' not in frame:
        return False
    try:
        doc = _json_decode(frame[6:].strip())
    except msgspec.DecodeError:
        return False
    return isinstance(doc, dict) and doc.get("choices") == [] and isinstance(doc.get("usage"), dict)


def split_usage(pieces: list[bytes]) -> tuple[list[bytes], bytes | None]:
    """Chat pieces without their usage-only chunk, and that chunk (None when there was none)."""
    kept: list[bytes] = []
    usage_frame: bytes | None = None
    for piece in pieces:
        if b'"usage"' not in piece:
            kept.append(piece)
            continue
        rest: list[bytes] = []
        for frame in _frames(piece):
            if usage_frame is None and _is_usage_chunk(frame):
                usage_frame = frame
            else:
                rest.append(frame)
        if rest:
            kept.append(b"".join(rest))
    return kept, usage_frame


def _usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


_COPIED = ("id", "object", "created", "model", "system_fingerprint")


def _built_usage_frame(entry: CachedAnswer) -> bytes:
    """A usage chunk with the id, created and model of the stream's own chunks."""
    chunk: dict[str, Any] = {"object": "chat.completion.chunk"}
    for piece in entry.pieces:
        for frame in _frames(piece):
            if frame.startswith(b"data: {"):
                try:
                    first = _json_decode(frame[6:].strip())
                except msgspec.DecodeError:
                    continue
                if isinstance(first, dict):
                    chunk.update({k: first[k] for k in _COPIED if k in first})
                    break
        if "id" in chunk:
            break
    chunk.update(choices=[], usage=_usage_json(entry.usage))
    return b"data: " + _json_encode(chunk) + b"\n\n"


def replay_pieces(entry: CachedAnswer, *, chat_usage: bool) -> list[bytes]:
    """The pieces to send for a hit; `chat_usage`: the caller asked for a chat usage chunk."""
    if not chat_usage:
        return entry.pieces
    frame = entry.usage_frame or _built_usage_frame(entry)
    out = list(entry.pieces)
    for index in range(len(out) - 1, -1, -1):
        at = out[index].find(_DONE)
        if at == 0:
            out.insert(index, frame)
            return out
        if at > 0:
            out[index] = out[index][:at] + frame + out[index][at:]
            return out
    out.append(frame)
    return out
