"""AWS event stream (`application/vnd.amazon.eventstream`) decoding, and Bedrock's stream turned into Anthropic SSE.

A message is: total length, headers length, prelude CRC32 (three big-endian uint32), headers, payload, and a
CRC32 of everything before it. `BedrockStreamSplitter` has `SSESplitter`'s interface and returns SSE frames
(without the blank-line terminator), so the Anthropic stream relays read Bedrock's InvokeModelWithResponseStream
unchanged: each `chunk` event carries one Anthropic event JSON, base64-encoded, which is passed on as it is.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from datetime import UTC, datetime, timedelta

import msgspec

__all__ = [
    "MAX_HEADERS_LENGTH",
    "MAX_MESSAGE_LENGTH",
    "BedrockStreamSplitter",
    "EventStreamError",
    "EventStreamReader",
    "HeaderValue",
    "decode_headers",
    "error_type",
]

MAX_MESSAGE_LENGTH = 16 * 1024 * 1024
"""A longer message is refused: a garbage prelude must not make us buffer without end (Bedrock's chunks are KBs)."""
MAX_HEADERS_LENGTH = 128 * 1024
"""botocore's limit."""

_PRELUDE = struct.Struct(">III")
_CRC = struct.Struct(">I")
_MIN_LENGTH = _PRELUDE.size + _CRC.size
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIXED = {2: struct.Struct(">b"), 3: struct.Struct(">h"), 4: struct.Struct(">i"), 5: struct.Struct(">q")}
_U16 = struct.Struct(">H")

HeaderValue = bool | int | bytes | str | datetime | uuid.UUID
"""Header values by type: 0/1 bool, 2..5 int (byte, short, int, long), 6 bytes, 7 str, 8 datetime (UTC, from
milliseconds since the epoch), 9 UUID."""

_ERROR_TYPES = {
    "throttling": "rate_limit_error",
    "serviceunavailable": "overloaded_error",
    "modelstreamerror": "overloaded_error",
    "validation": "invalid_request_error",
    "modeltimeout": "timeout_error",
}


class EventStreamError(ValueError):
    """The byte stream is not a valid event stream (bad CRC, impossible length, bad header): the stream is broken.

    `before` holds the messages of the same `feed` that decoded before the broken one."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.before: list[tuple[dict[str, HeaderValue], bytes]] = []


class _Chunk(msgspec.Struct):
    data: bytes = msgspec.field(name="bytes")  # msgspec reads the base64 string into bytes


class _Event(msgspec.Struct):
    type: str


class _ErrorPayload(msgspec.Struct):
    message: str | None = None
    Message: str | None = None  # some AWS services capitalise it


_chunk_decoder = msgspec.json.Decoder(_Chunk)
_event_decoder = msgspec.json.Decoder(_Event)
_error_decoder = msgspec.json.Decoder(_ErrorPayload)


def _header_value(kind: int, data: memoryview, at: int) -> tuple[HeaderValue, int]:
    """One header value of type `kind` at `data[at:]`, and the offset after it."""
    if kind in (0, 1):
        return kind == 0, at
    fixed = _FIXED.get(kind)
    if fixed is not None:
        return fixed.unpack_from(data, at)[0], at + fixed.size
    if kind in (6, 7):
        (length,) = _U16.unpack_from(data, at)
        at += 2
        raw = bytes(data[at : at + length])
        if len(raw) != length:
            raise EventStreamError("event stream header value runs past the headers")
        return (raw.decode() if kind == 7 else raw), at + length
    if kind == 8:
        (millis,) = _FIXED[5].unpack_from(data, at)
        return _EPOCH + timedelta(milliseconds=millis), at + 8
    if kind == 9:
        raw = bytes(data[at : at + 16])
        if len(raw) != 16:
            raise EventStreamError("event stream header value runs past the headers")
        return uuid.UUID(bytes=raw), at + 16
    raise EventStreamError(f"event stream header value type {kind} is not one of 0..9")


def decode_headers(data: bytes) -> dict[str, HeaderValue]:
    """The headers section of a message, by name. (Given bytes, not a view of the stream's buffer, so an error's
    traceback cannot pin that buffer and make it unresizable.)"""
    view = memoryview(data)
    headers: dict[str, HeaderValue] = {}
    at = 0
    try:
        while at < len(view):
            size = view[at]
            name = bytes(view[at + 1 : at + 1 + size]).decode()
            at += 1 + size
            headers[name], at = _header_value(view[at], view, at + 1)
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise EventStreamError(f"event stream headers are malformed: {exc}") from None
    return headers


class EventStreamReader:
    """Feeds raw bytes, returns complete `(headers, payload)` messages, CRCs checked.

    Bytes live in one bytearray read at an offset; consumed bytes are dropped once per `feed`, so a message
    arriving a byte at a time costs linear, not quadratic, work. A `feed` that raises EventStreamError drops the
    good messages before the bad one in the same chunk: the stream is broken either way.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[tuple[dict[str, HeaderValue], bytes]]:
        self._buf += chunk
        messages: list[tuple[dict[str, HeaderValue], bytes]] = []
        at = 0
        try:
            with memoryview(self._buf) as view:
                while len(view) - at >= _PRELUDE.size:
                    total, headers_length = self._prelude(view, at)
                    if len(view) - at < total:
                        break
                    end = at + total - _CRC.size
                    (crc,) = _CRC.unpack_from(view, end)
                    if zlib.crc32(view[at:end]) != crc:
                        raise EventStreamError("event stream message CRC does not match: the stream is corrupt")
                    headers_end = at + _PRELUDE.size + headers_length
                    headers = decode_headers(bytes(view[at + _PRELUDE.size : headers_end]))
                    messages.append((headers, bytes(view[headers_end:end])))
                    at += total
        except EventStreamError as exc:
            exc.before = messages
            raise
        finally:  # on an error too, so `rest()` holds only the bytes that did not decode
            if at:
                del self._buf[:at]
        return messages

    @staticmethod
    def _prelude(view: memoryview, at: int) -> tuple[int, int]:
        total, headers_length, crc = _PRELUDE.unpack_from(view, at)
        if zlib.crc32(view[at : at + 8]) != crc:
            raise EventStreamError(
                "event stream prelude CRC does not match: the stream is corrupt or not an event stream"
            )
        if not _MIN_LENGTH <= total <= MAX_MESSAGE_LENGTH:
            raise EventStreamError(
                f"event stream message length {total} is outside {_MIN_LENGTH}..{MAX_MESSAGE_LENGTH}"
            )
        if headers_length > min(MAX_HEADERS_LENGTH, total - _MIN_LENGTH):
            raise EventStreamError(f"event stream headers length {headers_length} does not fit message length {total}")
        return total, headers_length

    def rest(self) -> bytes:
        """The bytes of an incomplete message (a stream cut mid-message leaves these), and forget them."""
        rest, self._buf = bytes(self._buf), bytearray()
        return rest


def error_type(aws_type: str) -> str:
    """The Anthropic error type for a Bedrock exception or error code (`throttlingException` -> `rate_limit_error`)."""
    key = aws_type.lower().removesuffix("exception")
    return _ERROR_TYPES.get(key, "api_error")


def _error_frame(kind: str, message: str) -> bytes:
    body = msgspec.json.encode({"type": "error", "error": {"type": kind, "message": message}})
    return b"event: error\ndata: " + body


def _payload_message(payload: bytes) -> str | None:
    try:
        parsed = _error_decoder.decode(payload)
    except msgspec.DecodeError:
        return None
    return parsed.message or parsed.Message


def _one_line(data: bytes) -> bytes:
    """JSON on one line: outside strings a newline is only whitespace, and in an SSE frame it would end the data."""
    if b"\n" in data or b"\r" in data:
        return data.replace(b"\r", b" ").replace(b"\n", b" ")
    return data


class BedrockStreamSplitter:
    """`SSESplitter` for Bedrock's InvokeModelWithResponseStream: event stream bytes in, Anthropic SSE frames out.

    `chunk` events become `event: <type>\\ndata: <the Anthropic JSON as sent>` (Bedrock's
    `amazon-bedrock-invocationMetrics` on message_stop included); other events (Converse's) become
    `event: <event type>\ndata: <their JSON>`; `exception` and
    `error` messages become an Anthropic `error` event, which the relays already handle. A corrupt stream
    ends with an Anthropic `api_error` event after the frames that decoded, and nothing more is read.
    """

    __slots__ = ("_broken", "_reader")

    def __init__(self) -> None:
        self._reader = EventStreamReader()
        self._broken = False

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._broken:
            return []
        broken: EventStreamError | None = None
        try:
            messages = self._reader.feed(chunk)
        except EventStreamError as exc:
            messages, broken = exc.before, exc
        frames: list[bytes] = []
        try:
            for headers, payload in messages:
                frame = self._frame(headers, payload)
                if frame is not None:
                    frames.append(frame)
        except EventStreamError as exc:
            broken = exc
        if broken is not None:
            # A broken stream ends as Anthropic's own error event, after the frames that decoded: the relays
            # fail it (or recover it) like any stream that broke, and nothing reads what follows.
            self._broken = True
            frames.append(_error_frame("api_error", f"Bedrock's event stream is broken: {broken}"))
        return frames

    def rest(self) -> bytes:
        """Whatever arrived after the last complete message."""
        return self._reader.rest()

    @staticmethod
    def _frame(headers: dict[str, HeaderValue], payload: bytes) -> bytes | None:
        kind = headers.get(":message-type")
        if kind == "event":
            name = headers.get(":event-type")
            if name != "chunk":
                # Converse's events (messageStart, contentBlockDelta, ..., metadata) carry their JSON as is.
                if not isinstance(name, str) or not name or not payload.strip():
                    return None
                return b"event: " + name.encode() + b"\ndata: " + _one_line(payload)
            try:
                data = _chunk_decoder.decode(payload).data
                event = _event_decoder.decode(data).type
            except msgspec.DecodeError as exc:
                raise EventStreamError(f"Bedrock chunk event is not base64 Anthropic JSON: {exc}") from None
            return b"event: " + event.encode() + b"\ndata: " + _one_line(data)
        if kind == "exception":
            name = str(headers.get(":exception-type") or "exception")
            return _error_frame(error_type(name), _payload_message(payload) or name)
        if kind == "error":
            code = str(headers.get(":error-code") or "error")
            message = headers.get(":error-message")
            return _error_frame(error_type(code), str(message) if message else _payload_message(payload) or code)
        return None
