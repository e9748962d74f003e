"""The answer text of a relayed stream, kept as text instead of as the frames that carried it.

Passthrough relays forward an upstream's frames untouched, but still need the text so far: for a
mid-stream recovery (the next upstream continues from it) and for a token estimate when the
upstream reports no usage. Keeping every frame for that held ~230 bytes per token for as long as
the stream lasted (a 4,000-token answer: ~1 MB per stream). Frames are now held up to 8 KiB at a
time and then decoded in one call, as a JSON array, into only the fields needed (msgspec skips the
rest), leaving their text: a stream holds at most 8 KiB of frames plus about one byte per character
of its answer. A short stream whose text nobody asks for is never decoded; a long one costs ~0.45 µs
per frame (a 230-byte chat chunk, measured), about what decoding each frame on arrival cost.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

__all__ = ["AnthropicText", "ChatChunkText", "ResponsesText", "StreamText"]

_COMPACT_AT = 64
"""Text pieces held before they are joined into one string (a short str costs ~50 bytes beyond its text)."""
_HOLD_BYTES = 8192
"""Frame bytes held before they are decoded together (~35 chat chunks)."""


class StreamText:
    """Text pieces in arrival order; every `_COMPACT_AT` of them become one string."""

    __slots__ = ("_blocks", "_pieces")

    def __init__(self) -> None:
        self._blocks: list[str] = []
        self._pieces: list[str] = []

    def add(self, piece: str) -> None:
        pieces = self._pieces
        pieces.append(piece)
        if len(pieces) >= _COMPACT_AT:
            self._blocks.append("".join(pieces))
            pieces.clear()

    def text(self) -> str:
        return "".join(self._blocks) + "".join(self._pieces)


class _Frames:
    """JSON frames held until they reach `_HOLD_BYTES` or a reader asks, then decoded together and
    handed to `_take` one by one. A frame that does not fit the shape adds nothing (as one that did
    not decode always did); one bad frame costs its batch a decode per frame, not the batch's text."""

    __slots__ = ("_held", "_held_bytes", "_text")
    _one: ClassVar[msgspec.json.Decoder[Any]]
    _many: ClassVar[msgspec.json.Decoder[Any]]

    def __init__(self) -> None:
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._text = StreamText()

    def add(self, data: bytes) -> None:
        self._held.append(data)
        self._held_bytes += len(data)
        if self._held_bytes >= _HOLD_BYTES:
            self.settle()

    def settle(self) -> None:
        held = self._held
        if not held:
            return
        self._held = []
        self._held_bytes = 0
        try:
            items = self._many.decode(b"[" + b",".join(held) + b"]")
        except (msgspec.DecodeError, msgspec.ValidationError):
            items = [self._one_or_none(data) for data in held]
        for item in items:
            if item is not None:
                self._take(item)

    def _one_or_none(self, data: bytes) -> Any:
        try:
            return self._one.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None

    def _take(self, item: Any) -> None:
        raise NotImplementedError

    def text(self) -> str:
        """The text so far, held frames included."""
        self.settle()
        return self._text.text()


class _ChatDelta(msgspec.Struct):
    content: Any = None


class _ChatChoice(msgspec.Struct):
    delta: _ChatDelta | None = None
    text: Any = None
    """A legacy completion chunk's text (relayed by the same passthrough)."""
    finish_reason: Any = None


class _ChatChunk(msgspec.Struct):
    id: Any = None
    choices: list[_ChatChoice] = []


class ChatChunkText(_Frames):
    """What a Chat Completions (or legacy Completions) stream needs of its frames: the first choice's
    text, the last finish reason, the first chunk id."""

    __slots__ = ("_chunk_id", "_finish_reason")
    _one = msgspec.json.Decoder(_ChatChunk)
    _many = msgspec.json.Decoder(list[_ChatChunk])

    def __init__(self) -> None:
        super().__init__()
        self._chunk_id: str | None = None
        self._finish_reason: str | None = None

    def _take(self, item: _ChatChunk) -> None:
        if self._chunk_id is None and item.id is not None:
            self._chunk_id = str(item.id)
        if not item.choices:
            return
        choice = item.choices[0]
        if choice.finish_reason is not None:
            self._finish_reason = str(choice.finish_reason)
        content = choice.delta.content if choice.delta is not None else choice.text
        if isinstance(content, str) and content:
            self._text.add(content)

    @property
    def chunk_id(self) -> str | None:
        self.settle()
        return self._chunk_id

    @property
    def finish_reason(self) -> str | None:
        self.settle()
        return self._finish_reason


class _AnthropicDelta(msgspec.Struct):
    type: Any = None
    text: Any = None


class _AnthropicEvent(msgspec.Struct):
    delta: _AnthropicDelta | None = None


class AnthropicText(_Frames):
    """The text of a Messages stream's `content_block_delta` events (text deltas only)."""

    __slots__ = ()
    _one = msgspec.json.Decoder(_AnthropicEvent)
    _many = msgspec.json.Decoder(list[_AnthropicEvent])

    def _take(self, item: _AnthropicEvent) -> None:
        delta = item.delta
        if delta is not None and delta.type == "text_delta" and isinstance(delta.text, str):
            self._text.add(delta.text)


class _ResponsesDelta(msgspec.Struct):
    delta: Any = None


class ResponsesText(_Frames):
    """The text of a Responses stream's `response.output_text.delta` events."""

    __slots__ = ()
    _one = msgspec.json.Decoder(_ResponsesDelta)
    _many = msgspec.json.Decoder(list[_ResponsesDelta])

    def _take(self, item: _ResponsesDelta) -> None:
        if isinstance(item.delta, str):
            self._text.add(item.delta)
