"""The upstream HTTP/1.1 client against real sockets: framing, decoding, keep-alive, faults, TLS.

Each test runs a tiny asyncio server on loopback that answers with exact bytes, so every way an
upstream can frame (or break) a response is spelled out here rather than left to a framework.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from app.gateway.http1 import ConnectFailed, ConnectionBroken, Http1Pool
from app.gateway.http1_head import request_head
from tests.fakes.tls import make_ca

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return head, body


class Upstream:
    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.connections = 0
        self.hung_up = 0
        """Connections the client closed while we waited for its next request."""
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.answers:
                head, body = await read_request(reader)
                self.heads.append(head)
                self.bodies.append(body)
                answer = self.answers.pop(0)
                if answer == b"DROP":  # read the request, close without a word (a keep-alive race)
                    break
                if answer == b"HANG":
                    await asyncio.sleep(30)
                writer.write(answer)
                await writer.drain()
                if b"Connection: close" in answer or (b"Content-Length" not in answer and b"chunked" not in answer):
                    break
        except asyncio.IncompleteReadError as exc:
            self.hung_up += not exc.partial
        except ConnectionError:
            pass
        finally:
            writer.close()


@asynccontextmanager
async def upstream(*answers: bytes, tls: object = None) -> AsyncIterator[Upstream]:
    fake = Upstream(list(answers))
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0, ssl=tls)  # type: ignore[arg-type]
    fake.port = server.sockets[0].getsockname()[1]
    try:
        yield fake
    finally:
        server.close()


async def call(
    pool: Http1Pool, url: str, body: bytes | None = b"{}", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    origin, head = request_head("POST", url, headers or {"content-type": "application/json"}, body)
    conn = await pool.acquire("p", origin)
    try:
        await conn.exchange(head, body)
        parts = []
        while chunk := await conn.next_chunk():
            parts.append(chunk)
        return conn.status, dict(conn.headers), b"".join(parts)
    finally:
        conn.close()


def ok(body: bytes, *extra: bytes) -> bytes:
    headers = b"".join(e + b"\r\n" for e in extra)
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), headers, body)


async def test_content_length_bodies_reuse_one_connection() -> None:
    pool = Http1Pool()
    async with upstream(ok(b'{"a":1}', b"X-Thing: one"), ok(b'{"b":2}')) as up:
        url = f"http://127.0.0.1:{up.port}/v1/chat?x=1"
        assert await call(pool, url) == (200, {"content-length": "7", "x-thing": "one"}, b'{"a":1}')
        assert (await call(pool, url))[2] == b'{"b":2}'
    assert up.connections == 1
    assert up.heads[0].startswith(b"POST /v1/chat?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % up.port)
    assert b"Content-Length: 2\r\n" in up.heads[0] and up.bodies == [b"{}", b"{}"]
    assert pool.in_use() == 0
    pool.close()


async def test_chunked_and_close_delimited_bodies_are_read_whole() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    close_delimited = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end"
    pool = Http1Pool()
    async with upstream(chunked, close_delimited) as up:
        url = f"http://127.0.0.1:{up.port}/"
        assert (await call(pool, url))[2] == b"hello world"
        assert (await call(pool, url))[2] == b"until the end"
    assert up.connections == 1  # the chunked answer kept the connection; the other ended it
    assert pool.in_use() == 0
    pool.close()


async def test_a_connection_close_answer_is_not_reused() -> None:
    pool = Http1Pool()
    async with upstream(ok(b"1", b"Connection: close"), ok(b"2")) as up:
        url = f"http://127.0.0.1:{up.port}/"
        assert (await call(pool, url))[2] == b"1"
        assert (await call(pool, url))[2] == b"2"
    assert up.connections == 2
    pool.close()


async def test_gzip_and_deflate_bodies_are_decoded_and_we_only_offer_those() -> None:
    text = b'{"text":"' + b"compressible " * 500 + b'"}'
    gz = gzip.compress(text)
    zl = zlib.compress(text)
    pool = Http1Pool()
    async with upstream(ok(gz, b"Content-Encoding: gzip"), ok(zl, b"Content-Encoding: deflate")) as up:
        url = f"http://127.0.0.1:{up.port}/"
        assert (await call(pool, url, headers={"Accept-Encoding": "br, zstd"}))[2] == text
        assert (await call(pool, url))[2] == text
    assert all(b"Accept-Encoding: gzip, deflate\r\n" in head for head in up.heads)
    assert b"br" not in up.heads[0]
    pool.close()


async def test_a_large_body_read_slowly_arrives_intact() -> None:
    body = bytes(range(256)) * 8192  # 2 MiB: reading pauses past the high-water mark and resumes
    pool = Http1Pool()
    async with upstream(ok(body), b"HANG") as up:  # the second answer keeps the connection open
        origin, head = request_head("GET", f"http://127.0.0.1:{up.port}/big", {}, None)
        conn = await pool.acquire("p", origin)
        await conn.exchange(head, None)
        await asyncio.sleep(0.2)
        # Nobody read yet: the client stopped taking bytes from the socket instead of buffering 2 MiB.
        assert conn.transport is not None and not conn.transport.is_reading()
        got = bytearray()
        while chunk := await conn.next_chunk():
            got += chunk
        conn.close()
    assert bytes(got) == body
    assert b"Content-Length" not in up.heads[0]  # a GET without a body says nothing of one
    pool.close()


async def test_a_connection_that_breaks_mid_body_raises_and_is_dropped() -> None:
    pool = Http1Pool()
    async with upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part") as up:
        origin, head = request_head("POST", f"http://127.0.0.1:{up.port}/", {}, b"x")
        conn = await pool.acquire("p", origin)
        await conn.exchange(head, b"x")
        assert await conn.next_chunk() == b"only part"
        with pytest.raises(ConnectionBroken, match="broke"):
            await conn.next_chunk()
        conn.close()
    assert pool.in_use() == 0
    pool.close()


async def test_garbage_instead_of_http_is_a_broken_connection() -> None:
    pool = Http1Pool()
    async with upstream(b"SSH-2.0-OpenSSH_9.6\r\n\r\n") as up:
        with pytest.raises(ConnectionBroken, match="malformed"):
            await call(pool, f"http://127.0.0.1:{up.port}/")
    pool.close()


async def test_nothing_listening_is_a_connect_failure() -> None:
    async with upstream() as up:
        port = up.port
    with pytest.raises(ConnectFailed, match="cannot connect"):
        await call(Http1Pool(), f"http://127.0.0.1:{port}/")


async def test_a_cancelled_wait_closes_the_connection_instead_of_reusing_it() -> None:
    pool = Http1Pool()
    async with upstream(b"HANG", ok(b"fresh")) as up:
        url = f"http://127.0.0.1:{up.port}/"
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await call(pool, url)
        assert pool.in_use() == 0
        assert (await call(pool, url))[2] == b"fresh"
    assert up.connections == 2
    pool.close()


async def test_a_burst_keeps_at_most_max_idle_connections_and_closes_the_rest() -> None:
    pool = Http1Pool(max_idle=2)
    async with upstream(*[ok(b"%d" % i) for i in range(10)]) as up:
        origin, head = request_head("POST", f"http://127.0.0.1:{up.port}/", {}, b"{}")
        burst = [await pool.acquire("p", origin) for _ in range(5)]  # five calls in flight at once
        for conn in burst:
            await conn.exchange(head, b"{}")
            while await conn.next_chunk():
                pass
        for conn in burst:
            conn.close()
        for _ in range(50):
            if up.hung_up == 3:
                break
            await asyncio.sleep(0.01)
        assert up.hung_up == 3  # the upstream sees three sockets closed now, not in a minute
        url = f"http://127.0.0.1:{up.port}/"
        assert [(await call(pool, url))[2] for _ in range(2)] == [b"5", b"6"]
    assert up.connections == 5  # the two kept were reused
    pool.close()


@pytest.mark.parametrize("limits", [{"max_idle": 0}, {"keepalive_s": 0}])
async def test_no_idle_connections_kept_when_keep_alive_is_off(limits: dict[str, float]) -> None:
    pool = Http1Pool(**limits)  # type: ignore[arg-type]
    async with upstream(ok(b"1"), ok(b"2"), ok(b"3")) as up:
        url = f"http://127.0.0.1:{up.port}/"
        assert [(await call(pool, url))[2] for _ in range(2)] == [b"1", b"2"]
    assert up.connections == 2
    pool.close()


async def test_idle_connections_past_keepalive_are_not_reused() -> None:
    pool = Http1Pool(keepalive_s=0.1)
    async with upstream(ok(b"1"), ok(b"2")) as up:
        url = f"http://127.0.0.1:{up.port}/"
        await call(pool, url)
        await asyncio.sleep(0.3)
        await call(pool, url)
    assert up.connections == 2
    pool.close()


def test_headers_that_would_split_the_request_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid header"):
        request_head("POST", "http://h/", {"x-a": "1\r\nX-Injected: 2"}, b"")
    with pytest.raises(ValueError, match="not an http"):
        request_head("POST", "ftp://h/", {}, b"")
    caller = {"Host": "evil", "Content-Length": "9", "Expect": "100-continue"}
    _, head = request_head("POST", "https://api.example.com/v1/x", caller, b"ab")
    assert b"Expect" not in head
    assert head.startswith(b"POST /v1/x HTTP/1.1\r\nHost: api.example.com\r\n")
    assert b"evil" not in head and head.count(b"Content-Length") == 1 and b"Content-Length: 2\r\n" in head


async def test_tls_upstreams_are_verified(tmp_path: Path) -> None:
    ca = make_ca(tmp_path)
    async with upstream(ok(b"secure"), tls=ca.server_context()) as up:
        trusted = Http1Pool(tls=ca.client_context())
        assert (await call(trusted, f"https://127.0.0.1:{up.port}/"))[2] == b"secure"
        trusted.close()
        with pytest.raises(ConnectFailed, match="TLS"):
            await call(Http1Pool(), f"https://127.0.0.1:{up.port}/")  # the system store does not know our CA


def test_the_client_runs_on_uvloop_too(tmp_path: Path) -> None:
    """POLYROUTE_LOOP=uvloop (and granian) run the gateway on uvloop, whose transports differ."""
    import uvloop

    async def scenario() -> None:
        chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
        ca = make_ca(tmp_path)
        pool = Http1Pool(tls=ca.client_context())
        async with upstream(ok(b"one"), chunked) as up:
            assert (await call(pool, f"http://127.0.0.1:{up.port}/"))[2] == b"one"
            assert (await call(pool, f"http://127.0.0.1:{up.port}/"))[2] == b"hi"
        async with upstream(ok(b"secure"), tls=ca.server_context()) as up:
            assert (await call(pool, f"https://127.0.0.1:{up.port}/"))[2] == b"secure"
        pool.close()
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)

    uvloop.run(scenario())


async def test_a_finished_response_cannot_touch_the_call_that_reuses_its_connection() -> None:
    from app.gateway.upstream import UpstreamPool
    from app.providers.base import UpstreamRequest

    pool = UpstreamPool()
    async with upstream(ok(b"first"), ok(b"second")) as up:
        req = UpstreamRequest("POST", f"http://127.0.0.1:{up.port}/", {}, b"{}")
        first = await pool.open("p", req, first_byte_timeout=5)
        assert await first.read(5) == b"first"  # read to the end: the connection is back in the pool
        second = await pool.open("p", req, first_byte_timeout=5)
        first.close()  # late, as a `finally` does
        assert await first.next_chunk(5) == b""
        assert await second.read(5) == b"second"
        second.close()
    assert up.connections == 1
    await pool.close()


async def test_a_kept_alive_connection_dropped_under_a_get_is_retried_fresh_but_not_under_a_post() -> None:
    from app.gateway.upstream import UpstreamConnectError, UpstreamPool, UpstreamStale
    from app.providers.base import UpstreamRequest

    partial = b"HTTP/1.1 200 OK\r\nContent-Le"  # some of a head, then the upstream closes
    pool = UpstreamPool()
    async with upstream(ok(b"1"), b"DROP", ok(b"2"), ok(b"3"), b"DROP", ok(b"4"), partial) as up:
        get = UpstreamRequest("GET", f"http://127.0.0.1:{up.port}/v1/models", {})
        post = UpstreamRequest("POST", f"http://127.0.0.1:{up.port}/v1/chat", {}, b"{}")
        for expected in (b"1", b"2"):
            resp = await pool.open("p", get, first_byte_timeout=5)
            assert await resp.read(5) == expected  # the second GET met the drop, then a new connection
            resp.close()
        assert up.connections == 2
        resp = await pool.open("p", post, first_byte_timeout=5)
        assert await resp.read(5) == b"3"
        resp.close()
        # A POST may have been acted on: not resent here; said to be stale (no byte of answer) so
        # the attempt loop can send it again on a new connection, which `fresh` asks for.
        with pytest.raises(UpstreamStale, match="closed by upstream"):
            await pool.open("p", post, first_byte_timeout=5)
        assert up.connections == 2
        resp = await pool.open("p", post, first_byte_timeout=5, fresh=True)
        assert await resp.read(5) == b"4"
        resp.close()
        assert up.connections == 3
        with pytest.raises(UpstreamConnectError, match="broke") as broken:
            await pool.open("p", post, first_byte_timeout=5)  # part of an answer came: not stale
        assert not isinstance(broken.value, UpstreamStale)
    assert up.connections == 3 and len(up.heads) == 7
    await pool.close()


async def test_interim_responses_are_skipped_for_the_answer_that_follows() -> None:
    early = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    pool = Http1Pool()
    async with upstream(early + ok(b"final", b"X-Final: yes"), ok(b"next")) as up:
        url = f"http://127.0.0.1:{up.port}/"
        status, headers, body = await call(pool, url)
        assert (status, body, headers.get("x-final"), "link" in headers) == (200, b"final", "yes", False)
        assert (await call(pool, url))[2] == b"next"  # and the connection stayed usable
    assert up.connections == 1
    pool.close()


async def test_an_answer_given_before_our_body_was_read_does_not_leave_the_connection_reusable() -> None:
    connections: list[int] = []

    async def early(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await reader.readuntil(b"\r\n\r\n")  # the head only: 16 MiB of body stay unread
        writer.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nbig!")
        await writer.drain()
        await asyncio.sleep(2)
        writer.close()

    server = await asyncio.start_server(early, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = Http1Pool()
    try:
        for _ in range(2):
            status, _, body = await call(pool, f"http://127.0.0.1:{port}/", body=b"x" * (16 * 1024 * 1024))
            assert (status, body) == (413, b"big!")
    finally:
        server.close()
        pool.close()
    assert len(connections) == 2  # a fresh connection for the second call, the first one dropped


async def test_a_compressed_piece_that_decodes_to_nothing_yet_is_not_the_end() -> None:
    text = b"data: " + b"streamed and gzipped " * 50 + b"\n\n"
    gz = gzip.compress(text)

    async def dribble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (gz[:10], gz[10:]):  # the 10-byte gzip header alone first
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(dribble, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = Http1Pool()
    try:
        assert (await call(pool, f"http://127.0.0.1:{port}/"))[2] == text
    finally:
        server.close()
        pool.close()


@asynccontextmanager
async def paced(*answers: list[tuple[float, bytes]]) -> AsyncIterator[int]:
    """An upstream that writes each answer's pieces after their delays (s), one answer per request."""
    queue = list(answers)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while queue:
                await read_request(reader)
                for delay, piece in queue.pop(0):
                    await asyncio.sleep(delay)
                    writer.write(piece)
                    await writer.drain()
            await reader.read()  # hold the connection open until the client is done with it
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def piece(text: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(text), text)


async def _read(pool: Http1Pool, port: int, timeout: float | None) -> list[bytes]:
    origin, head = request_head("POST", f"http://127.0.0.1:{port}/", {}, b"{}")
    conn = await pool.acquire("p", origin)
    try:
        await conn.exchange(head, b"{}")
        parts = []
        while chunk := await conn.next_chunk(timeout):
            parts.append(chunk)
        return parts
    finally:
        conn.close()


async def test_a_stream_whose_bytes_keep_coming_outlives_its_stall_timeout() -> None:
    answer = [(0.0, CHUNKED_HEAD)] + [(0.05, piece(b"t%d" % i)) for i in range(8)] + [(0.05, b"0\r\n\r\n")]
    pool = Http1Pool()
    async with paced(answer) as port:
        started = asyncio.get_running_loop().time()
        parts = await _read(pool, port, 0.2)
        assert asyncio.get_running_loop().time() - started > 0.4  # twice the timeout in all, never 0.2 idle
    assert b"".join(parts) == b"t0t1t2t3t4t5t6t7"
    pool.close()


async def test_a_stall_mid_stream_times_out_once_no_bytes_came_for_the_timeout() -> None:
    answer = [(0.0, CHUNKED_HEAD), (0.01, piece(b"a")), (0.05, piece(b"b")), (5.0, piece(b"never"))]
    pool = Http1Pool()
    async with paced(answer) as port:
        origin, head = request_head("POST", f"http://127.0.0.1:{port}/", {}, b"{}")
        conn = await pool.acquire("p", origin)
        await conn.exchange(head, b"{}")
        loop = asyncio.get_running_loop()
        got = [await conn.next_chunk(30.0), await conn.next_chunk(0.2)]  # a long timeout, then a short one
        last = loop.time()
        with pytest.raises(TimeoutError):
            await conn.next_chunk(0.2)
        waited = loop.time() - last
        conn.close()
    assert got == [b"a", b"b"]
    assert 0.19 <= waited < 1.0  # the short timeout counts, not the 30 s one armed first
    assert pool.in_use() == 0
    pool.close()


async def test_a_stall_timer_armed_by_one_call_does_not_time_out_the_next_on_its_connection() -> None:
    quick = [(0.0, CHUNKED_HEAD + piece(b"one") + b"0\r\n\r\n")]
    slow = [(0.0, CHUNKED_HEAD), (0.35, piece(b"two") + b"0\r\n\r\n")]
    pool = Http1Pool()
    async with paced(quick, slow) as port:
        assert await _read(pool, port, 0.2) == [b"one"]  # armed a 0.2 s timer on this connection
        assert await _read(pool, port, None) == [b"two"]  # same connection, no timeout asked: no stall
    assert pool.in_use() == 0
    pool.close()


async def test_no_answer_within_the_first_byte_timeout_is_an_upstream_timeout_and_a_new_connection_next() -> None:
    from app.gateway.upstream import UpstreamPool, UpstreamTimeout
    from app.providers.base import UpstreamRequest

    pool = UpstreamPool()
    async with upstream(b"HANG", ok(b"fresh")) as up:
        req = UpstreamRequest("POST", f"http://127.0.0.1:{up.port}/", {}, b"{}")
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(UpstreamTimeout, match="first byte"):
            await pool.open("p", req, first_byte_timeout=0.2)
        assert 0.19 <= loop.time() - started < 1.0
        assert pool.open_connections() == 0
        resp = await pool.open("p", req, first_byte_timeout=5)  # the hung connection is not reused
        assert await resp.read(5) == b"fresh"
        resp.close()
    assert up.connections == 2
    await pool.close()


async def test_interim_answers_do_not_stretch_the_first_byte_timeout() -> None:
    from app.gateway.upstream import UpstreamPool, UpstreamTimeout
    from app.providers.base import UpstreamRequest

    hints = [(0.1, b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")] * 10
    pool = UpstreamPool()
    async with paced([*hints, (0.0, ok(b"late"))]) as port:
        req = UpstreamRequest("POST", f"http://127.0.0.1:{port}/", {}, b"{}")
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(UpstreamTimeout, match="first byte"):
            await pool.open("p", req, first_byte_timeout=0.35)  # a hint every 0.1 s, no answer for 1 s
        assert 0.34 <= loop.time() - started < 0.9
    await pool.close()
