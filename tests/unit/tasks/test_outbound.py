"""The outbound httpx client makes its transport (and TLS context) on the first request, then keeps it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.tasks.outbound import outbound_client


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback HTTP server answering 200 "ok"; records which connection each request came on."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        me = id(writer)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                connections.append(me)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/", connections
    srv.close()


async def test_the_transport_is_made_on_the_first_request_and_kept(
    server: tuple[str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[httpx.AsyncHTTPTransport] = []
    real = httpx.AsyncHTTPTransport

    def counting(*args: Any, **kwargs: Any) -> httpx.AsyncHTTPTransport:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(httpx, "AsyncHTTPTransport", counting)
    url, connections = server
    client = outbound_client(timeout=5.0, follow_redirects=False)
    assert made == []  # nothing built yet: a gateway that never calls out never pays for it
    first = await client.get(url)
    second = await client.post(url, content=b"{}")
    assert (first.status_code, first.text, second.text) == (200, "ok", "ok")
    assert len(made) == 1
    assert len(connections) == 2 and connections[0] == connections[1]  # kept alive through the wrapper
    await client.aclose()
    assert client.is_closed
