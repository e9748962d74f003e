"""Relay a started stream to the caller: stall timeout, terminator check, error event on a cut."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from app.accounting.events import Usage
from app.api.problem import Dialect, stream_error_event
from app.errors import GatewayError, ProviderError, ProviderTimeoutError
from app.gateway.attempts import StreamStarted
from app.gateway.exchange import UpstreamStreamError
from app.gateway.upstream import UpstreamFailure, UpstreamTimeout

__all__ = ["StreamOutcome", "relay_stream"]


@dataclass(slots=True)
class StreamOutcome:
    status: int = 499
    """499: the client went away before the end."""
    error: GatewayError | None = None
    usage: Usage | None = None
    text: str = ""
    malformed: int = 0
    finished_at: float = 0.0


class _StreamCut(Exception):
    pass


async def relay_stream(
    start: StreamStarted,
    *,
    stall_timeout: float,
    dialect: Dialect,
    on_done: Callable[[StreamStarted, StreamOutcome], None],
) -> AsyncIterator[bytes]:
    """Yields the caller's bytes; `on_done` runs exactly once, however the stream ends."""
    outcome = StreamOutcome()
    relay, resp, splitter = start.relay, start.response, start.splitter
    try:
        yield start.head
        while not relay.terminated:
            chunk = await resp.next_chunk(stall_timeout)
            if not chunk:
                break
            for frame in splitter.feed(chunk):
                out = relay.feed(frame)
                if out:
                    yield out
                if relay.terminated:
                    break
        if not relay.complete:
            raise _StreamCut()
        tail = relay.finish()
        if tail:
            yield tail
        outcome.status = 200
    except (UpstreamFailure, UpstreamStreamError, _StreamCut) as exc:
        outcome.error = _stream_error(start, exc)
        outcome.status = outcome.error.status_code
        yield stream_error_event(outcome.error, dialect)
    finally:
        resp.close()
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
