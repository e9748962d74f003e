"""A fast fake OpenAI/Anthropic upstream for benchmarks: raw asyncio + uvloop, keep-alive HTTP/1.1.

POST /v1/chat/completions  JSON, or SSE when the body says "stream": true (CHUNKS content chunks,
                           a finish chunk, a usage chunk, [DONE])
POST /v1/messages          Anthropic JSON or SSE
GET  /v1/models
Latency and chunking come, per request, from directives in the request body (`bench-latency-ms=50`,
`bench-chunks=200`, `bench-delay-ms=1000`, e.g. in the user message: the gateway forwards the body, and
translates it for an Anthropic upstream, but not a caller's headers), else from the headers
x-bench-latency-ms / x-bench-chunks / x-bench-delay-ms, else from the environment (BENCH_LATENCY_MS,
BENCH_CHUNKS, BENCH_CHUNK_DELAY_MS; BENCH_UPSTREAM_LOOP=asyncio runs it on asyncio, not uvloop).
`bench-gap-ms=5` pauses after the first token only: without it a
client's time to first token would be the time to parse the whole burst that follows. Streams are
wire-exact: the OpenAI chunk sequence with a usage chunk and [DONE]; Anthropic's message_start,
content_block_start, ping, content_block_delta..., content_block_stop, message_delta, message_stop.
Loopback only; run as `python scripts/bench_upstream.py PORT`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import sys
from typing import Any

import uvloop

LATENCY_MS = float(os.environ.get("BENCH_LATENCY_MS", "0"))
CHUNKS = int(os.environ.get("BENCH_CHUNKS", "20"))
CHUNK_DELAY_MS = float(os.environ.get("BENCH_CHUNK_DELAY_MS", "0"))

CHAT = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the bench upstream."},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    }
).encode()
MESSAGE = json.dumps(
    {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "bench",
        "content": [{"type": "text", "text": "Hello from the bench upstream."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 7},
    }
).encode()
DIRECTIVE = re.compile(rb"bench-(latency-ms|chunks|delay-ms|gap-ms)=(\d+(?:\.\d+)?)")
MODELS = b'{"object":"list","data":[{"id":"bench","object":"model","created":0,"owned_by":"bench"}]}'


@functools.lru_cache(maxsize=64)  # built once per length: the baseline must cost next to nothing
def chat_frames(n: int) -> tuple[bytes, ...]:
    base = '{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench",'
    frames = [
        f'data: {base}"choices":[{{"index":0,"delta":{{"role":"assistant","content":""}},'
        '"finish_reason":null}]}\n\n'.encode()
    ]
    frames += [
        f'data: {base}"choices":[{{"index":0,"delta":{{"content":"tok{i} "}},"finish_reason":null}}]}}\n\n'.encode()
        for i in range(n)
    ]
    frames.append(f'data: {base}"choices":[{{"index":0,"delta":{{}},"finish_reason":"stop"}}]}}\n\n'.encode())
    frames.append(
        f'data: {base}"choices":[],"usage":{{"prompt_tokens":12,"completion_tokens":{n},'
        f'"total_tokens":{12 + n}}}}}\n\n'.encode()
    )
    frames.append(b"data: [DONE]\n\n")
    return tuple(frames)


@functools.lru_cache(maxsize=64)
def message_frames(n: int) -> tuple[bytes, ...]:
    def ev(name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    start = {
        "type": "message_start",
        "message": {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": "bench",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 1},
        },
    }
    frames = [
        ev("message_start", start),
        ev(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        ev("ping", {"type": "ping"}),
    ]
    frames += [
        ev(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f"tok{i} "}},
        )
        for i in range(n)
    ]
    frames.append(ev("content_block_stop", {"type": "content_block_stop", "index": 0}))
    frames.append(
        ev(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": n},
            },
        )
    )
    frames.append(ev("message_stop", {"type": "message_stop"}))
    return tuple(frames)


class Upstream(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None  # a slow stream whose caller left stops at its next chunk

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1")
            lines = head.split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
            length = int(headers.get("content-length", "0"))
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            method, path, _ = lines[0].split(" ", 2)
            asyncio.get_running_loop().create_task(self.respond(method, path, headers, body))

    async def respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        opts = {name.decode(): float(value) for name, value in DIRECTIVE.findall(body)}
        latency = opts.get("latency-ms", float(headers.get("x-bench-latency-ms", LATENCY_MS)))
        if latency:
            await asyncio.sleep(latency / 1000)
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if method == "GET":
            self.send_json(MODELS)
            return
        stream = b'"stream":true' in body or b'"stream": true' in body
        anthropic = path.endswith("/messages")
        if not stream:
            self.send_json(MESSAGE if anthropic else CHAT)
            return
        n = int(opts.get("chunks", float(headers.get("x-bench-chunks", CHUNKS))))
        delay = opts.get("delay-ms", float(headers.get("x-bench-delay-ms", CHUNK_DELAY_MS)))
        frames = message_frames(n) if anthropic else chat_frames(n)
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        gap = opts.get("gap-ms", 0.0)
        first_token = 3 if anthropic else 1  # the index of the frame carrying "tok0 "
        for i, frame in enumerate(frames):
            if transport.is_closing():
                return
            transport.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            if gap and i == first_token:
                await asyncio.sleep(gap / 1000)
            if delay and i < len(frames) - 1:
                await asyncio.sleep(delay / 1000)
        if not transport.is_closing():
            transport.write(b"0\r\n\r\n")

    def send_json(self, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (len(payload), payload)
        )


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, "127.0.0.1", port, backlog=4096)
    print(f"bench upstream on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    # uvloop by default (fastest); BENCH_UPSTREAM_LOOP=asyncio for a fairer one under overload: on
    # uvloop this upstream's own tail at c=200 (p99 ~50 ms direct) shows up in whatever calls it.
    (asyncio.run if os.environ.get("BENCH_UPSTREAM_LOOP") == "asyncio" else uvloop.run)(main(int(sys.argv[1])))
