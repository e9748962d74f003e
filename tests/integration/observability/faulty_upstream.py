"""Raw-socket upstreams that misbehave below HTTP, on loopback, in a background thread.

aiohttp fakes always read the whole request and answer in well-formed HTTP; these do not:

  slow-read   reads the request 512 bytes every 50 ms and never answers (slowloris toward us)
  bad-json    reads the request, answers 200 application/json with a truncated JSON body, closes
  drip        reads the request, answers an SSE stream one chunk every 100 ms for up to 20 s

Every connection is bounded (closed by us after 20 s at most), and the server records when the
gateway closed each one. A connection the gateway closed with unsent request bytes still queued
(slow-read) only reaches us as EOF once the kernel has delivered them, so `established_to`
looks at the gateway's side instead: its socket leaves ESTABLISHED as soon as it is closed.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.fakes.server import free_port

__all__ = ["FaultyUpstream", "established_to"]

MAX_CONNECTION_S = 20.0
_HEAD_END = b"\r\n\r\n"


@dataclass
class FaultyUpstream:
    mode: str
    port: int = field(default_factory=free_port)
    accepted: int = 0
    open_now: int = 0
    closed_by_peer_at: list[float] = field(default_factory=list)
    """monotonic times at which the gateway closed a connection (EOF or reset seen by us)."""
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FaultyUpstream:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name=f"faulty-{self.mode}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("faulty upstream did not start")
        return self

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def shutdown() -> None:
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open_now += 1
        try:
            async with asyncio.timeout(MAX_CONNECTION_S):
                if self.mode == "slow-read":
                    await self._slow_read(reader)
                else:
                    await _read_request(reader)
                    if self.mode == "bad-json":
                        await _bad_json(writer)
                    else:
                        await _drip(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.closed_by_peer_at.append(time.monotonic())
        except (TimeoutError, asyncio.CancelledError):
            pass  # our own bound, or `stop`
        finally:
            self.open_now -= 1
            writer.close()

    async def _slow_read(self, reader: asyncio.StreamReader) -> None:
        while True:
            chunk = await reader.read(512)
            if not chunk:
                self.closed_by_peer_at.append(time.monotonic())
                return
            await asyncio.sleep(0.05)


def established_to(port: int) -> int:
    """Open (ESTABLISHED) loopback TCP connections whose far end is `port`: the client side, i.e. the gateway's."""
    wanted = f"0100007F:{port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == "01" and remote.endswith(wanted):  # tcp6 spells 127.0.0.1 as ...FFFF00000100007F
                count += 1
    return count


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(_HEAD_END)
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return await reader.readexactly(length)


async def _bad_json(writer: asyncio.StreamWriter) -> None:
    body = b'{"id": "chatcmpl-x", "object": "chat.completion", "choices": [{"index": 0, "mess'
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: %d\r\n\r\n"
    writer.write(head % len(body))
    writer.write(body)
    await writer.drain()


async def _drip(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
    for index in range(int(MAX_CONNECTION_S * 10)):
        chunk = {
            "id": "chatcmpl-drip",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "drip",
            "choices": [{"index": 0, "delta": {"content": f"word{index} "}, "finish_reason": None}],
        }
        frame = b"data: " + json.dumps(chunk).encode() + b"\n\n"
        writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
        await writer.drain()  # raises once the gateway has closed the connection
        await asyncio.sleep(0.1)
