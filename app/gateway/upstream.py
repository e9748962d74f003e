"""All upstream HTTP on the hot path: pooled aiohttp sessions, and the one place their errors are mapped."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp

from app.providers.base import UpstreamRequest
from app.providers.demo import demo_reply

__all__ = [
    "UpstreamConnectError",
    "UpstreamFailure",
    "UpstreamPool",
    "UpstreamReadError",
    "UpstreamResponse",
    "UpstreamTimeout",
]

MAX_ERROR_BODY = 256 * 1024


class UpstreamFailure(Exception):
    """Something went wrong talking to an upstream (not an HTTP error status)."""

    kind = "failure"


class UpstreamConnectError(UpstreamFailure):
    """Refused, reset before the response, DNS, TLS."""

    kind = "connect"


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
    __slots__ = ("_resp", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    async def read(self, timeout: float | None, limit: int = 64 * 1024 * 1024) -> bytes:
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
        try:
            async with asyncio.timeout(timeout):
                return await self._resp.content.readany()
        except TimeoutError:
            raise UpstreamTimeout("stall") from None
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise UpstreamReadError(f"upstream connection broke: {exc.__class__.__name__}") from None

    def close(self) -> None:
        self._resp.close()


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


def _inproc(req: UpstreamRequest) -> _InprocResponse:
    if req.url.endswith("/models"):
        return _InprocResponse(200, b'{"object":"list","data":[{"id":"echo","object":"model"}]}', None)
    status, body, frames = demo_reply(req.body or b"")
    return _InprocResponse(status, body, frames)


class _AbortingConnector(aiohttp.TCPConnector):
    """Drops a connection at once when it is closed with request bytes still unsent.

    asyncio's `transport.close()` first flushes what is buffered, so an upstream that reads our body
    slowly (slowloris toward us) would keep the socket open for minutes after we gave up on it.
    """

    def _release(self, key: Any, protocol: Any, *, should_close: bool = False) -> None:
        transport = protocol.transport
        closing = should_close or protocol.should_close or self._force_close
        if closing and transport is not None and transport.get_write_buffer_size():
            protocol.abort()  # close() in the base class is then a no-op
        super()._release(key, protocol, should_close=should_close)


class UpstreamPool:
    """One pooled aiohttp session per provider, created on first use and closed at shutdown."""

    def __init__(self, *, limit_per_host: int = 0, keepalive_s: float = 60.0) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._limit_per_host = limit_per_host
        self._keepalive_s = keepalive_s

    def _session(self, provider: str) -> aiohttp.ClientSession:
        session = self._sessions.get(provider)
        if session is None or session.closed:
            connector = _AbortingConnector(
                limit=0,
                limit_per_host=self._limit_per_host,
                keepalive_timeout=self._keepalive_s,
                ttl_dns_cache=300,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),
                auto_decompress=True,
            )
            self._sessions[provider] = session
        return session

    async def open(
        self,
        provider: str,
        req: UpstreamRequest,
        *,
        first_byte_timeout: float | None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> UpstreamResponse:
        """Send the request and wait for the status line and headers."""
        if req.url.startswith("inproc://"):
            return _inproc(req)
        headers = dict(req.headers)
        if extra_headers:
            headers.update(extra_headers)
        session = self._session(provider)
        try:
            async with asyncio.timeout(first_byte_timeout):
                resp = await session.request(req.method, req.url, data=req.body, headers=headers)
        except TimeoutError:
            raise UpstreamTimeout("first byte") from None
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamConnectError(f"cannot connect to upstream: {exc.os_error or exc}") from None
        except (aiohttp.ClientError, ConnectionError, OSError) as exc:
            raise UpstreamConnectError(f"upstream request failed: {exc.__class__.__name__}: {exc}") from None
        return _HttpResponse(resp)

    def open_connections(self) -> int:
        """Connections currently checked out or idle in the pools (for leak checks)."""
        total = 0
        for session in self._sessions.values():
            connector = session.connector
            if connector is not None:
                total += len(getattr(connector, "_acquired", ()))
        return total

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()
