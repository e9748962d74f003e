"""Server-sent events: an incremental frame splitter and a frame parser, on bytes."""

from __future__ import annotations

from typing import Protocol

__all__ = ["SSESplitter", "StreamSplitter", "frame_data", "frame_event", "make_frame"]


class StreamSplitter(Protocol):
    """Upstream bytes in, complete SSE frames out: `SSESplitter`, or a decoder of another framing that
    yields the SSE frames it carries (Bedrock's event stream)."""

    def feed(self, chunk: bytes) -> list[bytes]: ...

    def rest(self) -> bytes: ...


class SSESplitter:
    """Feeds raw upstream bytes, returns complete frames (without their blank-line terminator)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._buf + chunk if self._buf else chunk
        if b"\n\n" not in buf:
            self._buf = buf
            return []
        parts = buf.split(b"\n\n")
        self._buf = parts.pop()
        return [p for p in parts if p]

    def rest(self) -> bytes:
        """Whatever arrived after the last complete frame (a stream cut mid-frame leaves this)."""
        rest, self._buf = self._buf, b""
        return rest.strip()


def frame_data(frame: bytes) -> bytes | None:
    """The joined `data:` lines of a frame; None for comment-only or data-less frames."""
    if frame.startswith(b"data: ") and b"\n" not in frame:
        return frame[6:]
    lines = [line for line in frame.split(b"\n") if line.startswith(b"data:")]
    if not lines:
        return None
    return b"\n".join(line[6:] if line.startswith(b"data: ") else line[5:] for line in lines)


def frame_event(frame: bytes) -> bytes | None:
    """The `event:` name of a frame, if it has one."""
    if not frame.startswith(b"event:") and b"\nevent:" not in frame:
        return None
    for line in frame.split(b"\n"):
        if line.startswith(b"event:"):
            return line[6:].strip()
    return None


def make_frame(data: bytes, event: str | None = None) -> bytes:
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
