"""All upstream HTTP on the hot path: pooled keep-alive connections, and the one place their errors are mapped."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol

from app.gateway.google_tokens import GoogleTokens, TokenUnavailable
from app.gateway.http1 import (
    ConnectFailed,
    Connection,
    ConnectionBroken,
    Http1Pool,
    HttpClientError,
    NoAnswer,
)
from app.gateway.http1_head import Origin, request_head
from app.gateway.slots import ProviderSlots
from app.providers.base import UpstreamRequest
from app.providers.demo import demo_reply
from app.providers.google_auth import ServiceAccount

__all__ = [
    "UpstreamBusy",
    "UpstreamConnectError",
    "UpstreamFailure",
    "UpstreamPool",
    "UpstreamReadError",
    "UpstreamResponse",
    "UpstreamStale",
    "UpstreamTimeout",
]

MAX_ERROR_BODY = 256 * 1024
MAX_BODY = 64 * 1024 * 1024
"""The largest answer `read` takes whole."""
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_TOKEN_POOL = "@google-oauth"
"""Token endpoints get connections of their own (no provider name starts with @)."""


class UpstreamFailure(Exception):
    """Something went wrong talking to an upstream (not an HTTP error status)."""

    kind = "failure"


class UpstreamConnectError(UpstreamFailure):
    """Refused, reset before the response, DNS, TLS."""

    kind = "connect"


class UpstreamStale(UpstreamConnectError):
    """A kept-alive connection closed under a request before a byte of the answer came: nearly always
    the upstream closing it as idle while the request was on its way, not a sign of the upstream's
    health. Raised for requests not safe to send again here (POST); the attempt loop decides."""

    kind = "stale"


class UpstreamBusy(UpstreamFailure):
    """The provider's `max_concurrent` calls were all in flight for as long as the call could wait:
    nothing was sent, and the upstream's health has nothing to do with it."""

    kind = "busy"


class UpstreamTimeout(UpstreamFailure):
    """No first byte, a stall between chunks, or the whole deadline."""

    kind = "timeout"

    def __init__(self, phase: str) -> None:
        super().__init__(f"upstream timed out ({phase})")
        self.phase = phase


class UpstreamReadError(UpstreamFailure):
    """The connection broke while the body was being read."""

    kind = "read"


class UpstreamResponse(Protocol):
    status: int
    headers: Mapping[str, str]

    async def read(self, timeout: float | None, limit: int = ...) -> bytes: ...

    async def next_chunk(self, timeout: float | None) -> bytes:
        """The next bytes; b"" at the end of the body."""
        ...

    def close(self) -> None: ...


class _HttpResponse:
    __slots__ = ("_conn", "_generation", "headers", "status")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._generation = conn.generation  # once read to the end, the connection may serve another call
        self.status = conn.status
        self.headers: Mapping[str, str] = conn.headers

    async def read(self, timeout: float | None, limit: int = MAX_BODY) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            chunk = await self.next_chunk(timeout)
            if not chunk:
                return b"".join(parts)
            size += len(chunk)
            if size > limit:
                raise UpstreamReadError(f"upstream body larger than {limit} bytes")
            parts.append(chunk)

    async def next_chunk(self, timeout: float | None) -> bytes:
        conn = self._conn
        if conn.generation != self._generation:
            return b""
        try:
            return await conn.next_chunk(timeout)
        except TimeoutError:
            raise UpstreamTimeout("stall") from None
        except HttpClientError as exc:
            raise UpstreamReadError(str(exc)) from None

    def close(self) -> None:
        if self._conn.generation == self._generation:
            self._conn.close()


class _InprocResponse:
    """The demo provider's answer, shaped like an HTTP response."""

    __slots__ = ("_chunks", "headers", "status")

    def __init__(self, status: int, body: bytes, frames: list[bytes] | None) -> None:
        self.status = status
        self.headers: Mapping[str, str] = {
            "content-type": "text/event-stream" if frames is not None else "application/json"
        }
        self._chunks = list(frames) if frames is not None else [body]
        self._chunks.reverse()

    async def read(self, timeout: float | None, limit: int = 0) -> bytes:
        data = b"".join(reversed(self._chunks))
        self._chunks.clear()
        return data

    async def next_chunk(self, timeout: float | None) -> bytes:
        return self._chunks.pop() if self._chunks else b""

    def close(self) -> None:
        self._chunks.clear()


class _Slotted:
    """A response that holds one of its provider's slots until it is read to the end or closed."""

    __slots__ = ("_give", "_inner", "headers", "status")

    def __init__(self, inner: UpstreamResponse, give: Callable[[], None]) -> None:
        self._inner = inner
        self._give: Callable[[], None] | None = give
        self.status = inner.status
        self.headers = inner.headers

    async def read(self, timeout: float | None, limit: int = MAX_BODY) -> bytes:
        try:
            return await self._inner.read(timeout, limit)
        finally:
            self._done()  # read whole, or failed (the caller closes it): the call is over either way

    async def next_chunk(self, timeout: float | None) -> bytes:
        chunk = await self._inner.next_chunk(timeout)
        if not chunk:
            self._done()
        return chunk

    def close(self) -> None:
        self._inner.close()
        self._done()

    def _done(self) -> None:
        give, self._give = self._give, None
        if give is not None:
            give()


def _inproc(req: UpstreamRequest) -> _InprocResponse:
    if req.url.endswith("/models"):
        return _InprocResponse(200, b'{"object":"list","data":[{"id":"echo","object":"model"}]}', None)
    status, body, frames = demo_reply(req.body or b"")
    return _InprocResponse(status, body, frames)


def _head(req: UpstreamRequest, headers: Mapping[str, str]) -> tuple[Origin, bytes]:
    """Where to send the request, and its head as it goes on the wire."""
    try:
        return request_head(req.method, req.url, headers, req.body)
    except ValueError as exc:
        raise UpstreamConnectError(f"cannot send to upstream: {exc}") from None


class _Budget:
    """Seconds left of a timeout shared by several steps (None: no limit)."""

    __slots__ = ("_deadline",)

    def __init__(self, timeout: float | None) -> None:
        self._deadline = None if timeout is None else time.monotonic() + timeout

    def __call__(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())


class UpstreamPool:
    """Keep-alive connections per provider (`http1.Http1Pool`), opened on first use, closed at shutdown."""

    def __init__(self, *, keepalive_s: float = 60.0, max_idle: int = 100) -> None:
        self._pool = Http1Pool(keepalive_s=keepalive_s, max_idle=max_idle)
        self.slots = ProviderSlots()
        """Calls in flight per provider with a `max_concurrent` cap."""
        self.google = GoogleTokens(self._exchange)
        """Access tokens of the Google service accounts requests name (`UpstreamRequest.google_account`)."""

    async def _bearer(self, account: ServiceAccount) -> str:
        try:
            return f"Bearer {await self.google.token(account)}"
        except TokenUnavailable as exc:  # like a refused connection: the attempt fails, the next target is tried
            raise UpstreamConnectError(str(exc)) from None

    async def _exchange(self, req: UpstreamRequest, timeout: float) -> tuple[int, bytes]:
        """One whole request and answer (a token request): status and body."""
        resp = await self.open(_TOKEN_POOL, req, first_byte_timeout=timeout)
        try:
            return resp.status, await resp.read(timeout, MAX_ERROR_BODY)
        except BaseException:
            resp.close()
            raise

    async def open(
        self,
        provider: str,
        req: UpstreamRequest,
        *,
        first_byte_timeout: float | None,
        extra_headers: Mapping[str, str] | None = None,
        fresh: bool = False,
        limit: int | None = None,
    ) -> UpstreamResponse:
        """Send the request and wait for the status line and headers (`fresh`: on a new connection).
        With a `limit`, the call first takes one of the provider's slots (see `_open_limited`)."""
        if limit is not None:
            return await self._open_limited(provider, req, first_byte_timeout, extra_headers, fresh, limit)
        if req.url.startswith("inproc://"):
            return _inproc(req)
        headers = {**req.headers, **extra_headers} if extra_headers else req.headers
        if req.google_account is not None:  # a sync check on every call; the await only for Vertex's
            headers = {**headers, "authorization": await self._bearer(req.google_account)}
        origin, head = _head(req, headers)
        conn: Connection | None = None
        # The connection's own timer for the wait on the answer, not an asyncio.timeout: that armed
        # and cancelled a timer per call, on every call (see http1.Connection._wait_within).
        left = _Budget(first_byte_timeout)
        try:
            conn = await self._pool.acquire(provider, origin, fresh=fresh, timeout=left())
            try:
                await conn.exchange(head, req.body, left())
            except ConnectionBroken as exc:
                # A kept-alive connection the upstream closed just as we sent: what RFC 9112 allows
                # to retry on a fresh one, for idempotent requests only (as aiohttp did). POSTs go
                # back to the attempt loop, which knows the route's retry policy.
                if conn.generation == 1:
                    raise
                if req.method not in IDEMPOTENT:
                    if isinstance(exc, NoAnswer):
                        raise UpstreamStale(f"upstream request failed: {exc}") from None
                    raise
                conn.close()
                conn = await self._pool.acquire(provider, origin, fresh=True, timeout=left())
                await conn.exchange(head, req.body, left())
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout("first byte") from None
            if isinstance(exc, ConnectFailed):
                raise UpstreamConnectError(str(exc)) from None
            if isinstance(exc, HttpClientError):
                raise UpstreamConnectError(f"upstream request failed: {exc}") from None
            raise
        return _HttpResponse(conn)

    async def _open_limited(
        self,
        provider: str,
        req: UpstreamRequest,
        first_byte_timeout: float | None,
        extra_headers: Mapping[str, str] | None,
        fresh: bool,
        limit: int,
    ) -> UpstreamResponse:
        """`open` holding one of the provider's `limit` slots, waited for within the same first-byte
        budget (UpstreamBusy when none came free); the response gives it back when done."""
        left = _Budget(first_byte_timeout)
        try:
            await self.slots.take(provider, limit, left())
        except TimeoutError:
            raise UpstreamBusy(
                f"{provider}: all {limit} of its concurrent calls were in use for {first_byte_timeout or 0:g}s"
            ) from None
        try:
            resp = await self.open(provider, req, first_byte_timeout=left(), extra_headers=extra_headers, fresh=fresh)
        except BaseException:
            self.slots.give(provider)
            raise
        return _Slotted(resp, lambda: self.slots.give(provider))

    def open_connections(self) -> int:
        """Connections currently checked out (for leak checks)."""
        return self._pool.in_use()

    async def close(self) -> None:
        self._pool.close()
