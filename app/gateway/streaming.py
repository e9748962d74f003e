"""Relay a started stream to the caller: stall timeout, terminator check, recovery or an error event."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from app.accounting.events import Usage
from app.api.problem import Dialect, error_member, stream_error_event
from app.errors import GatewayError, ProviderError, ProviderTimeoutError
from app.gateway.attempt_outcomes import StreamStarted
from app.gateway.exchange import BinaryRelay, StreamAborted, StreamRelay, UpstreamStreamError
from app.gateway.recovery import Continuation, Recoverable
from app.gateway.upstream import UpstreamFailure, UpstreamResponse, UpstreamTimeout

__all__ = ["StreamOutcome", "relay_stream"]

Recover = Callable[[str], Awaitable[Continuation | None]]


@dataclass(slots=True)
class StreamOutcome:
    status: int = 499
    """499: the client went away before the end."""
    error: GatewayError | None = None
    usage: Usage | None = None
    text: str = ""
    malformed: int = 0
    finished_at: float = 0.0
    cut: GatewayError | None = None
    """Why the first upstream's stream broke, when a recovery took over."""
    recovered_by: StreamStarted | None = None


class _StreamCut(Exception):
    pass


async def _pump(resp: UpstreamResponse, start: StreamStarted, relay: StreamRelay, stall: float) -> AsyncIterator[bytes]:
    """Frames in, the caller's bytes out, until the upstream's terminator or the end of the body."""
    splitter = start.splitter
    while not relay.terminated:
        chunk = await resp.next_chunk(stall)
        if not chunk:
            break
        # What one read brought goes out as one piece: a burst of frames costs one send, not one each
        # (200-chunk streams added 2 ms to the next stream's first token).
        outs: list[bytes] = []
        try:
            for frame in splitter.feed(chunk):
                out = relay.feed(frame)
                if out:
                    outs.append(out)
                if relay.terminated:
                    break
        except Exception:
            if outs:  # the frames before a failing one were relayed: the caller gets them first
                yield b"".join(outs)
            raise
        if outs:
            yield outs[0] if len(outs) == 1 else b"".join(outs)
    if not relay.complete:
        raise _StreamCut()


async def _continue(cont: Continuation, original: Recoverable, stall: float) -> AsyncIterator[bytes]:
    """The recovery upstream's chunks, rendered by the original relay."""
    head = original.continue_chunks(cont.take())
    if head:
        yield head
    async for _ in _pump(cont.started.response, cont.started, cont.started.relay, stall):
        out = original.continue_chunks(cont.take())
        if out:
            yield out
    cont.started.relay.finish()  # owed chunks (e.g. a usage chunk) land in the collector
    tail = original.continue_chunks(cont.take())
    if tail:
        yield tail
    yield original.finish_recovered()


async def relay_stream(
    start: StreamStarted,
    *,
    stall_timeout: float,
    dialect: Dialect,
    on_done: Callable[[StreamStarted, StreamOutcome], None],
    recover: Recover | None = None,
) -> AsyncIterator[bytes]:
    """Yields the caller's bytes; `on_done` runs exactly once, however the stream ends."""
    outcome = StreamOutcome()
    relay = start.relay
    cont: Continuation | None = None
    try:
        yield start.head
        try:
            async for out in _pump(start.response, start, relay, stall_timeout):
                yield out
            tail = relay.finish()
            if tail:
                yield tail
        except (UpstreamFailure, UpstreamStreamError, _StreamCut) as exc:
            start.response.close()
            if recover is None or not isinstance(relay, Recoverable):
                raise
            outcome.cut = _stream_error(start, exc)
            cont = await recover(relay.text())
            if cont is None:
                raise
            outcome.recovered_by = cont.started
            async for out in _continue(cont, relay, stall_timeout):
                yield out
        outcome.status = 200
    except (UpstreamFailure, UpstreamStreamError, _StreamCut) as exc:
        outcome.error = _stream_error(cont.started if cont else start, exc)
        outcome.status = outcome.error.status_code
        if isinstance(relay, BinaryRelay):
            raise StreamAborted(outcome.error) from None  # no error event in a binary body: the cut tells the caller
        # A dialect with its own failure event (Responses: response.failed) ends that way.
        fail = getattr(relay, "fail", None)
        ending = fail(error_member(outcome.error, "openai")["message"]) if fail is not None else None
        yield ending or stream_error_event(outcome.error, dialect)
    finally:
        start.response.close()
        if cont is not None:
            cont.started.response.close()
        outcome.usage = relay.usage
        outcome.malformed = relay.malformed
        outcome.finished_at = time.monotonic()
        on_done(start, outcome)


def _stream_error(start: StreamStarted, exc: Exception) -> GatewayError:
    name = start.served.public_model
    if isinstance(exc, UpstreamTimeout):
        return ProviderTimeoutError(f"{name} stalled mid-stream; the answer is incomplete")
    if isinstance(exc, UpstreamStreamError):
        return ProviderError(f"{name} failed mid-stream: {exc}")
    if isinstance(exc, UpstreamFailure):
        return ProviderError(f"{name} broke the connection mid-stream: {exc}")
    return ProviderError(f"{name} ended the stream without finishing the answer")
