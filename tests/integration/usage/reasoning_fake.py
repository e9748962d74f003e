"""A tiny OpenAI-dialect upstream whose every answer reports cached prompt tokens and reasoning tokens."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer

__all__ = ["USAGE", "ReasoningFake"]

USAGE = {
    "prompt_tokens": 1000,
    "completion_tokens": 300,
    "total_tokens": 1300,
    "prompt_tokens_details": {"cached_tokens": 800},
    "completion_tokens_details": {"reasoning_tokens": 200},
}


@dataclass
class ReasoningFake(FakeServer):
    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self.chat)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        doc = json.loads(await request.read())
        base = {"id": "chatcmpl-r1", "created": 0, "model": doc.get("model", "r1")}
        if not doc.get("stream"):
            message = {"role": "assistant", "content": "Thought hard. 42."}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return web.json_response({**base, "object": "chat.completion", "choices": [choice], "usage": USAGE})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        chunk = {**base, "object": "chat.completion.chunk"}
        deltas: list[dict[str, Any]] = [
            {"role": "assistant", "content": ""},
            {"content": "Thought hard. "},
            {"content": "42."},
        ]
        for delta in deltas:
            choice = {"index": 0, "delta": delta, "finish_reason": None}
            await resp.write(b"data: " + json.dumps({**chunk, "choices": [choice]}).encode() + b"\n\n")
        done = {"index": 0, "delta": {}, "finish_reason": "stop"}
        await resp.write(b"data: " + json.dumps({**chunk, "choices": [done]}).encode() + b"\n\n")
        if (doc.get("stream_options") or {}).get("include_usage"):
            await resp.write(b"data: " + json.dumps({**chunk, "choices": [], "usage": USAGE}).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
