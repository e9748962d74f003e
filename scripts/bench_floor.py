"""The floor a gateway in this stack cannot go under: a bare ASGI app on uvicorn (asyncio, httptools)
that forwards each request through Polyroute's own `UpstreamPool` and answers with what came back.

No auth, limits, routing, translation, accounting or logging: what remains is the HTTP server, the
upstream client and the event loop. scripts/bench_instructions.py runs it beside the gateway, so the
difference between the two is what the pipeline itself costs. Loopback only;
run as `python scripts/bench_floor.py PORT UPSTREAM_PORT`. Without UPSTREAM_PORT it takes the port of
`$BENCH_UPSTREAM_BASE`, so ../shared/bench can run it as a gateway (README, Performance):
`--custom-name floor --custom-cmd "$PWD/../main/.venv/bin/python $PWD/../main/scripts/bench_floor.py {port}"`
(the harness runs it from ../shared, so the paths are absolute).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.gateway.upstream import UpstreamPool
from app.providers.base import UpstreamRequest

_PATHS = {"/v1/chat/completions": "/v1/chat/completions", "/v1/messages": "/v1/messages"}
_READY = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}


def forwarder(upstream_port: int) -> Any:
    pool = UpstreamPool()
    base = f"http://127.0.0.1:{upstream_port}"

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = _PATHS.get(scope["path"])
        if path is None:  # readiness and anything else
            await send(_READY)
            await send({"type": "http.response.body", "body": b"ok"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {"content-type": "application/json", "authorization": "Bearer sk-upstream"}
        resp = await pool.open("fake", UpstreamRequest("POST", base + path, headers, body), first_byte_timeout=30)
        content_type = resp.headers.get("content-type", "application/json")
        reply = [(b"content-type", content_type.encode())]
        if "event-stream" not in content_type:  # a whole answer leaves in one piece, as the gateway's does
            answer = await resp.read(30)
            reply.append((b"content-length", str(len(answer)).encode()))
            await send({"type": "http.response.start", "status": resp.status, "headers": reply})
            await send({"type": "http.response.body", "body": answer})
            return
        await send({"type": "http.response.start", "status": resp.status, "headers": reply})
        while chunk := await resp.next_chunk(30):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def main() -> None:
    import uvicorn

    port = int(sys.argv[1])
    upstream_port = int(sys.argv[2]) if len(sys.argv) > 2 else urlsplit(os.environ["BENCH_UPSTREAM_BASE"]).port
    if upstream_port is None:
        sys.exit("bench_floor: give UPSTREAM_PORT, or a BENCH_UPSTREAM_BASE with a port")
    uvicorn.run(
        forwarder(upstream_port),
        host="127.0.0.1",
        port=port,
        loop="asyncio",  # as the gateway's default
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
    )


if __name__ == "__main__":
    main()
