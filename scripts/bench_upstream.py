"""A fast fake OpenAI/Anthropic upstream for benchmarks: raw asyncio + uvloop, keep-alive HTTP/1.1.

POST /v1/chat/completions  JSON, or SSE when the body says "stream": true (CHUNKS content chunks,
                           a finish chunk, a usage chunk, [DONE])
POST /v1/messages          Anthropic JSON or SSE
GET  /v1/models
Latency and chunking come from the environment (BENCH_LATENCY_MS, BENCH_CHUNKS, BENCH_CHUNK_DELAY_MS)
or per request from the headers x-bench-latency-ms / x-bench-chunks.
Loopback only; run as `python scripts/bench_upstream.py PORT`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

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
MODELS = b'{"object":"list","data":[{"id":"bench","object":"model","created":0,"owned_by":"bench"}]}'


def chat_frames(n: int) -> list[bytes]:
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
    return frames


def message_frames(n: int) -> list[bytes]:
    def ev(name: str, data: dict[str, object]) -> bytes:
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
    return frames


class Upstream(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is not a subclass

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
        latency = float(headers.get("x-bench-latency-ms", LATENCY_MS))
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
        n = int(headers.get("x-bench-chunks", CHUNKS))
        frames = message_frames(n) if anthropic else chat_frames(n)
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        for frame in frames:
            if transport.is_closing():
                return
            transport.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            if CHUNK_DELAY_MS:
                await asyncio.sleep(CHUNK_DELAY_MS / 1000)
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
    uvloop.run(main(int(sys.argv[1])))
