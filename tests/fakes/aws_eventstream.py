"""AWS event stream encoding, the test side (app/providers/aws_eventstream.py decodes): Bedrock's stream messages."""

from __future__ import annotations

import base64
import json
import struct
import uuid
import zlib
from collections.abc import Sequence
from typing import Any

__all__ = ["chunk_message", "cut_by_exception", "encode_header", "encode_message", "event_message", "exception_message"]

_FIXED = {2: ">b", 3: ">h", 4: ">i", 5: ">q"}


def encode_header(name: str, kind: int, value: Any) -> bytes:
    """One header: name length, name, value type 0..9, value (see HeaderValue in aws_eventstream)."""
    raw_name = name.encode()
    head = struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">B", kind)
    if kind in (0, 1):
        return head
    if kind in _FIXED:
        return head + struct.pack(_FIXED[kind], value)
    if kind in (6, 7):
        raw = value.encode() if kind == 7 else bytes(value)
        return head + struct.pack(">H", len(raw)) + raw
    if kind == 8:
        millis = value if isinstance(value, int) else round(value.timestamp() * 1000)
        return head + struct.pack(">q", millis)
    if kind == 9:
        return head + (value.bytes if isinstance(value, uuid.UUID) else bytes(value))
    raise ValueError(f"header value type {kind} is not one of 0..9")


def encode_message(headers: Sequence[tuple[str, int, Any]], payload: bytes) -> bytes:
    """One event stream message: prelude (lengths, CRC), headers, payload, message CRC."""
    raw_headers = b"".join(encode_header(name, kind, value) for name, kind, value in headers)
    prelude = struct.pack(">II", 16 + len(raw_headers) + len(payload), len(raw_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + raw_headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event_message(event_type: str, payload: bytes) -> bytes:
    """An `event` message, with the headers (and order) Bedrock sends."""
    headers = [(":event-type", 7, event_type), (":content-type", 7, "application/json"), (":message-type", 7, "event")]
    return encode_message(headers, payload)


def chunk_message(event_json: bytes, padding: str = "abcdefghijklmnopqrstuvwxyzABCDEFGH") -> bytes:
    """A `chunk` event carrying one Anthropic event; Bedrock pads payloads with a `p` member, as here."""
    payload = json.dumps({"bytes": base64.b64encode(event_json).decode(), "p": padding}, separators=(",", ":"))
    return event_message("chunk", payload.encode())


def exception_message(exception_type: str, message: str) -> bytes:
    """An `exception` message, as Bedrock sends mid-stream (`throttlingException`, `modelStreamErrorException`...)."""
    headers = [
        (":exception-type", 7, exception_type),
        (":content-type", 7, "application/json"),
        (":message-type", 7, "exception"),
    ]
    return encode_message(headers, json.dumps({"message": message}).encode())


def cut_by_exception(encoded: list[bytes], b: dict[str, Any]) -> list[bytes]:
    """`encoded` cut after `stream_error` messages by the scripted exception message, when one is asked for."""
    if b.get("stream_error") is None:
        return encoded
    kind = str(b.get("stream_exception") or "modelStreamErrorException")
    text = "Too many requests, please wait before trying again." if "throttl" in kind.lower() else "Overloaded"
    return [*encoded[: int(b["stream_error"])], exception_message(kind, text)]
