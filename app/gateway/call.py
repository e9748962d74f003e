"""One inference call as the pipeline sees it, and the reply it hands back to the transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.gateway.exchange import Exchange
from app.gateway.snapshot import KeyRecord
from app.gateway.tracing import TraceContext
from app.providers.base import ProviderAdapter

__all__ = ["Call", "Parsed", "Reply"]


@dataclass(slots=True)
class Parsed:
    """What an endpoint's decoder found in the body."""

    model: str
    stream: bool
    body: dict[str, Any]
    exchanges: Callable[[ProviderAdapter], Exchange]
    """Upstream adapter -> the exchange for this request (a route's targets may differ)."""
    max_output_tokens: int | None = None
    hub_chat: Callable[[], dict[str, Any]] | None = None
    """The request in Chat Completions form (for request hooks and mid-stream recovery); None disables both."""
    recoverable: bool = True
    """False where the chat form is only good for reading (several prompts in one request)."""
    bind: Callable[[KeyRecord, Any], Awaitable[None]] | None = None
    """Async preparation once the caller's key is known (e.g. loading a stored conversation)."""


@dataclass(slots=True)
class Call:
    endpoint: str
    """Stable name for logs and usage: `chat.completions`, `messages`, `responses`, ..."""
    dialect: str
    """The caller's dialect for error shapes: `openai` or `anthropic`."""
    headers: dict[str, str]
    raw: bytes
    parse: Callable[[bytes], Parsed]
    """The endpoint's decoder; the pipeline runs it after authentication."""
    trace: TraceContext
    request_id: str
    received: float
    """perf_counter() when the request arrived."""
    parsed: Parsed | None = None
    key: KeyRecord | None = None
    """Set by in-process callers (tasks, the UI playground) that authenticated the key already."""
    after: list[Callable[[], object]] | None = None
    """Set by the HTTP endpoint: work the pipeline leaves for once the response is written (the usage
    event of an answer, whole or streamed); the endpoint runs it, whatever happens to the send.
    In-process callers leave it None and the pipeline does that work before it returns (or, for a
    stream, when it ends)."""

    @property
    def model(self) -> str | None:
        return self.parsed.model if self.parsed else None

    @property
    def stream(self) -> bool:
        return self.parsed.stream if self.parsed else False


@dataclass(slots=True)
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
