"""How one request crosses between the caller's dialect and an upstream's: the contract.

An `Exchange` is made per request. For each attempt it builds the upstream body, and turns
the upstream's answer back into the caller's dialect: whole (`reply`) or one SSE frame at a
time (`stream`). Same dialect in and out is a passthrough that rewrites only `model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from app.accounting.events import Usage
from app.errors import GatewayError
from app.gateway.snapshot import ProviderEntry
from app.gateway.sse import SSESplitter
from app.providers.base import ProviderAdapter, UpstreamRequest

__all__ = [
    "BadUpstreamReply",
    "BinaryRelay",
    "Exchange",
    "Served",
    "StreamAborted",
    "StreamRelay",
    "UpstreamStreamError",
]


@dataclass(frozen=True, slots=True)
class Served:
    """Who answered: shown to the caller as `<provider>/<model>`."""

    provider: str
    model: str
    latency_ms: float = 0.0

    @property
    def public_model(self) -> str:
        return f"{self.provider}/{self.model}"

    def stamp(self, doc: dict[str, Any]) -> dict[str, Any]:
        """`doc` (a whole OpenAI-style answer) naming who answered: `model`, plus the gateway's
        `provider` and `latency_ms` members."""
        doc["model"] = self.public_model
        doc["provider"] = self.provider
        doc["latency_ms"] = round(self.latency_ms, 1)
        return doc


class BadUpstreamReply(Exception):
    """A 200 whose body is not the answer (an error object, HTML, truncated JSON)."""


class UpstreamStreamError(Exception):
    """The upstream sent an error event inside the stream."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class StreamAborted(Exception):
    """A streamed body with no error event (audio) broke after its first byte.

    The ASGI layer ends such a response unfinished, so the caller sees a cut connection rather
    than a short file that looks complete, and logs `error` as one line (it is an upstream's
    failure, not a gateway bug, so no traceback).
    """

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.detail)
        self.error = error


class StreamRelay(Protocol):
    """Turns upstream SSE frames into bytes for the caller, keeping what accounting needs."""

    @property
    def usage(self) -> Usage | None: ...

    @property
    def terminated(self) -> bool:
        """The upstream's end-of-stream marker arrived (`[DONE]`, `message_stop`): stop reading."""
        ...

    @property
    def malformed(self) -> int:
        """Frames skipped because they did not parse."""
        ...

    def feed(self, frame: bytes) -> bytes:
        """Bytes to send for one upstream frame (b"" when it produces nothing)."""
        ...

    @property
    def complete(self) -> bool:
        """The answer is whole: a terminator or a final finish reason arrived. Else it was cut."""
        ...

    def finish(self) -> bytes:
        """Closing bytes after the upstream's terminator."""
        ...

    def text(self) -> str:
        """The answer text sent so far (for mid-stream recovery and token estimates)."""
        ...

    def finish_reason(self) -> str | None: ...


class _Chunks(SSESplitter):
    """Hands every upstream chunk on whole: the body is not made of SSE frames."""

    __slots__ = ()

    def feed(self, chunk: bytes) -> list[bytes]:
        return [chunk] if chunk else []

    def rest(self) -> bytes:
        return b""


class BinaryRelay:
    """A relay for a streamed body that is not SSE (audio): the upstream's bytes pass through as they arrive.

    The attempt loop reads it through `splitter()` instead of an SSE splitter, the reply carries the
    upstream's content type, and a failure after the first byte cuts the connection (a binary body
    has no error event).
    """

    terminated = False
    malformed = 0
    complete = True
    """The end of the body is the end of the answer; a broken connection raises instead."""

    def __init__(self, usage: Usage | None = None) -> None:
        self.usage = usage
        self.content_type = b"application/octet-stream"

    def splitter(self, headers: Mapping[str, str]) -> SSESplitter:
        self.content_type = headers.get("content-type", "application/octet-stream").encode("latin-1")
        return _Chunks()

    def feed(self, frame: bytes) -> bytes:
        return frame

    def finish(self) -> bytes:
        return b""

    def text(self) -> str:
        return ""

    def finish_reason(self) -> str | None:
        return None


class Exchange(Protocol):
    upstream_dialect: str

    def upstream_body(self, provider: ProviderEntry, model: str, stream: bool) -> bytes:
        """The request body for one attempt on `model`."""
        ...

    def request(self, adapter: ProviderAdapter, provider: ProviderEntry, model: str, stream: bool) -> UpstreamRequest:
        """The upstream HTTP request for one attempt (body plus the adapter's URL and auth)."""
        ...

    def reply(self, body: bytes, served: Served) -> tuple[bytes, Usage]:
        """A whole upstream answer -> the caller's answer and its usage; raises BadUpstreamReply."""
        ...

    def stream(self, served: Served) -> StreamRelay:
        """A fresh relay for one streaming attempt."""
        ...
