"""A layer over a caller's stream, only when needed: keep its pieces for the cache, let hooks see its text.

Per-chunk hooks see each piece's text before it is sent; end-of-stream hooks see the whole text
while the terminator (`[DONE]`, `message_stop`, `response.completed`) is held back, so a rejection
ends the stream with the dialect's error event instead. `finish` runs exactly once, after the
source stream has closed (and so after its own accounting hook has run).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from app.api.problem import Dialect, stream_error_event
from app.errors import GatewayError
from app.gateway.answer_text import delta_text, split_terminator

__all__ = ["Check", "tap_stream"]

Check = Callable[[str], Awaitable[GatewayError | None]]
"""Text in; the error that ends the stream, or None to go on."""


async def tap_stream(
    source: AsyncIterator[bytes],
    *,
    endpoint: str,
    dialect: Dialect,
    finish: Callable[[list[bytes] | None, GatewayError | None], None],
    capture: bool = False,
    on_chunk: Check | None = None,
    at_end: Check | None = None,
) -> AsyncIterator[bytes]:
    """Yields the caller's bytes; `finish(pieces, blocked)` gets every piece when the source ended (and `capture`)."""
    wants_text = on_chunk is not None or at_end is not None
    pieces: list[bytes] | None = [] if capture else None
    texts: list[str] = []
    blocked: GatewayError | None = None
    ended = False
    held = b""
    try:
        async for piece in source:
            if wants_text and (delta := delta_text(endpoint, piece)):
                if on_chunk is not None and (blocked := await on_chunk(delta)) is not None:
                    break
                texts.append(delta)
            if pieces is not None:
                pieces.append(piece)
            out = piece
            if at_end is not None:
                if held:
                    held += piece  # nothing is expected after the terminator, but keep the order if it comes
                    continue
                out, held = split_terminator(endpoint, piece)
            if out:
                yield out
        else:
            ended = True
        if blocked is None and held and at_end is not None:
            blocked = await at_end("".join(texts))
        if blocked is not None:
            await _close(source)  # stop the upstream before telling the caller
            yield stream_error_event(blocked, dialect)
        elif held:
            yield held
    finally:
        await _close(source)
        finish(pieces if ended and blocked is None else None, blocked)


async def _close(source: AsyncIterator[bytes]) -> None:
    close = getattr(source, "aclose", None)
    if close is not None:
        await close()
