"""Small helpers for the cache suites: unique prompts, raw calls, what the fakes received, the request log."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from tests.fakes.server import FakeServer
from tests.gateway_process import GatewayProcess

__all__ = ["chat", "frames", "logged", "post", "prompt", "seen", "stream_raw"]


def prompt(tag: str = "q") -> str:
    return f"{tag} {uuid.uuid4().hex[:12]}"


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **extra}


def post(
    gw: GatewayProcess, path: str, body: dict[str, Any], *, key: str | None = None, **headers: str
) -> httpx.Response:
    with gw.http() as http:
        return http.post(path, json=body, headers={"Authorization": f"Bearer {key or gw.api_key}", **headers})


def stream_raw(
    gw: GatewayProcess, path: str, body: dict[str, Any], *, key: str | None = None, **headers: str
) -> tuple[httpx.Response, bytes]:
    with (
        gw.http() as http,
        http.stream(
            "POST",
            path,
            json={**body, "stream": True},
            headers={"Authorization": f"Bearer {key or gw.api_key}", **headers},
        ) as resp,
    ):
        return resp, resp.read()


def frames(raw: bytes) -> list[bytes]:
    return [f for f in raw.split(b"\n\n") if f.strip()]


def seen(fake: FakeServer, text: str, path: str = "/chat/completions") -> int:
    """How many requests carrying `text` reached the fake."""
    return sum(1 for r in fake.requests_for(path) if text.encode() in r.body)


def logged(gw: GatewayProcess, request_id: str, timeout: float = 10) -> dict[str, Any]:
    """The request-log row for `request_id` (waits for the usage flush)."""
    deadline = time.monotonic() + timeout
    with gw.admin() as admin:
        while time.monotonic() < deadline:
            for row in admin.get("/v1/requests", params={"limit": 100}).json()["data"]:
                if row["id"] == request_id:
                    return dict(row)
            time.sleep(0.2)
    raise AssertionError(f"{request_id} never reached the request log")
