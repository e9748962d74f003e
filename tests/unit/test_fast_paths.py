"""The front door: inference paths go straight to their handlers; only the rest sees X-Forwarded-For."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from app.api.fast_paths import FastPaths


class _Recorder:
    def __init__(self) -> None:
        self.state = SimpleNamespace()
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scopes.append(dict(scope))


def _scope(path: str, peer: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "scheme": "http",
        "client": (peer, 5000),
        "headers": [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"https")],
    }


async def _nothing() -> dict[str, Any]:
    return {}


async def _drop(_: dict[str, Any]) -> None:
    return None


def test_forwarded_headers_reach_the_litestar_side_from_a_trusted_peer_only() -> None:
    litestar, inference = _Recorder(), _Recorder()
    front = FastPaths(litestar, {"/v1/chat/completions": inference}, forwarded_allow_ips="127.0.0.1")

    async def run() -> None:
        for path in ("/ui/login", "/v1/chat/completions"):
            for peer in ("127.0.0.1", "198.51.100.9"):
                await front(_scope(path, peer), _nothing, _drop)

    asyncio.run(run())
    trusted, untrusted = litestar.scopes
    assert trusted["client"][0] == "203.0.113.7" and trusted["scheme"] == "https"
    assert untrusted["client"] == ("198.51.100.9", 5000) and untrusted["scheme"] == "http"
    # The inference handler gets the server's scope as it was: no rewrite on the hot path.
    assert [s["client"] for s in inference.scopes] == [("127.0.0.1", 5000), ("198.51.100.9", 5000)]
    assert front.state is litestar.state
