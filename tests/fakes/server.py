"""Run an aiohttp app on a free loopback port in a background thread, and record what it receives."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

__all__ = ["FakeServer", "Received", "free_port"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    """One request as the fake saw it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    peer: str = ""
    """The client's address and port: requests on one kept-alive connection share it."""

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class FakeServer:
    """Base for the fakes: subclasses add routes in `routes()`; tests read `received`."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    scripts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _active: set[asyncio.Task[Any]] = field(default_factory=set)
    tls: ssl.SSLContext | None = None
    """Serve HTTPS with this context (see `tests/fakes/tls.py`)."""

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    # -- scripting ---------------------------------------------------------------------------
    def script(self, model: str, *behaviours: dict[str, Any]) -> None:
        """Queue behaviours for the next requests naming `model` ("*" for any model)."""
        self.scripts.setdefault(model, []).extend(behaviours)

    def next_behaviour(self, model: str) -> dict[str, Any] | None:
        for name in (model, "*"):
            queue = self.scripts.get(name)
            if queue:
                return queue.pop(0)
        return None

    def reset(self) -> None:
        self.received.clear()
        self.scripts.clear()

    def requests_for(self, path_suffix: str) -> list[Received]:
        return [r for r in self.received if r.path.endswith(path_suffix)]

    # -- lifecycle ---------------------------------------------------------------------------
    @web.middleware
    async def _record(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        body = await request.read()
        query = request.rel_url.raw_query_string
        peername = request.transport.get_extra_info("peername") if request.transport is not None else None
        peer = f"{peername[0]}:{peername[1]}" if peername else ""
        self.received.append(Received(request.method, request.path, query, dict(request.headers), body, peer))
        task = asyncio.current_task()
        if task is not None:
            self._active.add(task)
        try:
            result: web.StreamResponse = await handler(request)
            return result
        finally:
            if task is not None:
                self._active.discard(task)

    def start(self) -> FakeServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application(middlewares=[self._record], client_max_size=64 * 1024 * 1024)
            self.routes(app)
            runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", self.port, ssl_context=self.tls)
            loop.run_until_complete(site.start())
            self._runner = runner
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"fake-{self.port}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake upstream did not start")
        return self

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def in_flight(self) -> int:
        return len(self._active)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
