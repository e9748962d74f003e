"""The answer's text as the caller receives it, whole or one stream piece at a time (for request hooks).

Works on the caller-dialect bytes the gateway sends, so it is the same for passthroughs,
translations, recoveries and cache replays. Also finds a stream's terminator, which is held back
until the hooks have seen the whole answer.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["answer_text", "delta_text", "frame_parts", "split_terminator"]

_decode = msgspec.json.decode

_TERMINATORS: dict[str, tuple[bytes, ...]] = {
    "chat.completions": (b"data: [DONE]",),
    "completions": (b"data: [DONE]",),
    "messages": (b"event: message_stop",),
    "responses": (b"event: response.completed", b"event: response.incomplete", b"event: response.failed"),
}
_DELTA_MARK = {
    "chat.completions": b'"content"',
    "completions": b'"text"',
    "messages": b"text_delta",
    "responses": b"output_text.delta",
}


def _json(raw: bytes) -> Any:
    try:
        return _decode(raw)
    except msgspec.DecodeError:
        return None


def _chat_text(doc: dict[str, Any]) -> str:
    choices = doc.get("choices")
    if not isinstance(choices, list):
        return ""
    parts: list[str] = []
    for choice in choices:
        message = choice.get("message") or choice.get("delta") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
    return "".join(parts)


def _completion_text(doc: dict[str, Any]) -> str:
    choices = doc.get("choices")
    if not isinstance(choices, list):
        return ""
    return "".join(c["text"] for c in choices if isinstance(c, dict) and isinstance(c.get("text"), str))


def _messages_text(doc: dict[str, Any]) -> str:
    blocks = doc.get("content")
    if not isinstance(blocks, list):
        return ""
    return "".join(str(b.get("text", "")) for b in blocks if isinstance(b, dict) and b.get("type") == "text")


def _responses_text(doc: dict[str, Any]) -> str:
    parts: list[str] = []
    for item in doc.get("output") or ():
        if isinstance(item, dict) and item.get("type") == "message":
            for part in item.get("content") or ():
                if isinstance(part, dict) and part.get("type") == "output_text":
                    parts.append(str(part.get("text", "")))
    return "".join(parts)


def answer_text(endpoint: str, body: bytes) -> str:
    """The text of a whole answer in the caller's dialect ("" for endpoints without text)."""
    doc = _json(body)
    if not isinstance(doc, dict):
        return ""
    if endpoint == "chat.completions":
        return _chat_text(doc)
    if endpoint == "completions":
        return _completion_text(doc)
    if endpoint == "messages":
        return _messages_text(doc)
    if endpoint == "responses":
        return _responses_text(doc)
    return ""


def frame_parts(frame: bytes) -> tuple[bytes | None, bytes | None]:
    """An SSE frame's `event:` name and `data:` payload (either None when absent)."""
    event = data = None
    for line in frame.split(b"\n"):
        if line.startswith(b"event:"):
            event = line[6:].strip()
        elif line.startswith(b"data:"):
            data = line[5:].strip()
    return event, data


def _frame_delta(endpoint: str, frame: bytes) -> str:
    event, data = frame_parts(frame)
    doc = _json(data) if data else None
    if not isinstance(doc, dict):
        return ""
    if endpoint == "chat.completions":
        return _chat_text(doc)
    if endpoint == "completions":
        return _completion_text(doc)
    if endpoint == "messages" and (event in (None, b"content_block_delta")):
        delta = doc.get("delta")
        return str(delta.get("text", "")) if isinstance(delta, dict) and delta.get("type") == "text_delta" else ""
    if endpoint == "responses" and doc.get("type") == "response.output_text.delta":
        return str(doc.get("delta", ""))
    return ""


def delta_text(endpoint: str, piece: bytes) -> str:
    """The answer text one piece of the caller's stream carries (one or several SSE frames)."""
    mark = _DELTA_MARK.get(endpoint)
    if mark is None or mark not in piece:
        return ""
    return "".join(_frame_delta(endpoint, f) for f in piece.split(b"\n\n") if mark in f)


def split_terminator(endpoint: str, piece: bytes) -> tuple[bytes, bytes]:
    """(what comes before the stream's terminator frame, the terminator and the rest); (piece, b"") without one."""
    for marker in _TERMINATORS.get(endpoint, ()):
        at = piece.find(marker)
        while at > 0 and piece[at - 2 : at] != b"\n\n":
            at = piece.find(marker, at + 1)
        if at >= 0:
            return piece[:at], piece[at:]
    return piece, b""
