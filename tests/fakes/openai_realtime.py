"""A fake of OpenAI's Realtime API (a WebSocket), at OpenAI's and Azure's paths, in the GA event shapes.

On connect it sends `session.created`; it answers `session.update` (`session.updated`),
`conversation.item.create` (`conversation.item.added`), `input_audio_buffer.append`/`.commit`, and
`response.create`: `response.created`, one `response.output_text.delta` per word of "echo: <last user
text>", `response.output_text.done`, and `response.done` with usage a test can predict:

- input: 5 + the words of the user's text, plus one audio token per 50 bytes of audio appended (after
  base64 decoding); `cached_input` of them from the cache (first text, then audio `cached_audio`);
- output: the words of the answer, plus `audio_out` audio tokens.

Binary frames are echoed back. `refuse` makes the next upgrades fail with that status and an OpenAI
error body; `close_after` closes the session with `close_code` after that many responses.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.server import FakeServer

__all__ = ["FakeRealtime"]


@dataclass
class FakeRealtime(FakeServer):
    api_key: str = "sk-fake-realtime"
    refuse: list[int] = field(default_factory=list)
    """Statuses for the next upgrades, one each (401 is also what a wrong key gets)."""
    close_after: int | None = None
    close_code: int = 1000
    audio_out: int = 0
    cached_input: int = 0
    cached_audio: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    """Every client event, in order, from every session."""
    open_sessions: int = 0
    closed_by_client: list[int] = field(default_factory=list)
    """The close codes of sessions the client side ended."""

    def routes(self, app: web.Application) -> None:
        for path in ("/v1/realtime", "/openai/v1/realtime", "/openai/realtime"):
            app.router.add_get(path, self.realtime)

    def reset(self) -> None:
        super().reset()
        self.refuse.clear()
        self.events.clear()
        self.closed_by_client.clear()
        self.close_after = None
        self.close_code = 1000
        self.audio_out = self.cached_input = self.cached_audio = 0

    def _authorised(self, request: web.Request) -> bool:
        given = request.headers.get("authorization", "").removeprefix("Bearer ") or request.headers.get("api-key")
        return given == self.api_key

    async def realtime(self, request: web.Request) -> web.StreamResponse:
        status = self.refuse.pop(0) if self.refuse else (None if self._authorised(request) else 401)
        if status is not None:
            error = {"message": f"refused with {status}", "type": "invalid_request_error", "code": f"fake_{status}"}
            return web.json_response({"error": error}, status=status)
        model = request.query.get("model") or request.query.get("deployment") or ""
        ws = web.WebSocketResponse(protocols=("realtime",))
        await ws.prepare(request)
        self.open_sessions += 1
        try:
            await _Session(self, ws, model).run()
        finally:
            self.open_sessions -= 1
        return ws


class _Session:
    def __init__(self, fake: FakeRealtime, ws: web.WebSocketResponse, model: str) -> None:
        self.fake = fake
        self.ws = ws
        self.session: dict[str, Any] = {"id": "sess_fake", "object": "realtime.session", "type": "realtime"}
        self.session["model"] = model
        self.last_text = ""
        self.audio_bytes = 0
        self.responses = 0
        self.serial = 0

    async def send(self, event: dict[str, Any]) -> None:
        self.serial += 1
        await self.ws.send_str(json.dumps({"type": event.pop("type"), "event_id": f"event_{self.serial}", **event}))

    async def error(self, code: str, message: str) -> None:
        await self.send({"type": "error", "error": {"type": "invalid_request_error", "code": code, "message": message}})

    async def run(self) -> None:
        await self.send({"type": "session.created", "session": dict(self.session)})
        async for message in self.ws:
            if message.type == WSMsgType.BINARY:
                await self.ws.send_bytes(message.data)
                continue
            if message.type != WSMsgType.TEXT:
                break
            try:
                event = json.loads(message.data)
            except ValueError:  # as OpenAI does: an error event, and the session goes on
                await self.error("invalid_json", "The frame is not JSON")
                continue
            self.fake.events.append(event)
            if await self.handle(event):
                return
        self.fake.closed_by_client.append(self.ws.close_code or 1005)

    async def handle(self, event: dict[str, Any]) -> bool:
        """True when the fake closed the session."""
        kind = event.get("type")
        if kind == "session.update":
            if not isinstance(event.get("session"), dict):
                await self.error("invalid_type", "session must be an object")
                return False
            self.session.update(event["session"])
            await self.send({"type": "session.updated", "session": dict(self.session)})
        elif kind == "conversation.item.create":
            item = {"id": f"item_{self.serial}", **(event.get("item") or {})}
            for part in item.get("content") or []:
                if part.get("type") == "input_text":
                    self.last_text = part.get("text", "")
            await self.send({"type": "conversation.item.added", "previous_item_id": None, "item": item})
        elif kind == "input_audio_buffer.append":
            self.audio_bytes += len(base64.b64decode(event.get("audio", "")))
        elif kind == "input_audio_buffer.commit":
            await self.send({"type": "input_audio_buffer.committed", "item_id": f"item_{self.serial}"})
        elif kind == "response.create":
            await self.respond()
            if self.fake.close_after is not None and self.responses >= self.fake.close_after:
                await asyncio.sleep(0.05)
                await self.ws.close(code=self.fake.close_code, message=b"fake closes")
                return True
        return False

    async def respond(self) -> None:
        self.responses += 1
        rid = f"resp_{self.responses}"
        await self.send({"type": "response.created", "response": {"id": rid, "object": "realtime.response"}})
        words = f"echo: {self.last_text}".split()
        for i, word in enumerate(words):
            delta = word if i == 0 else " " + word
            await self.send({"type": "response.output_text.delta", "response_id": rid, "delta": delta})
        await self.send({"type": "response.output_text.done", "response_id": rid, "text": " ".join(words)})
        audio_in = self.audio_bytes // 50
        text_in = 5 + len(self.last_text.split())
        audio_out = self.fake.audio_out
        usage = {
            "total_tokens": text_in + audio_in + len(words) + audio_out,
            "input_tokens": text_in + audio_in,
            "output_tokens": len(words) + audio_out,
            "input_token_details": {
                "text_tokens": text_in,
                "audio_tokens": audio_in,
                "image_tokens": 0,
                "cached_tokens": self.fake.cached_input,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": self.fake.cached_audio, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": len(words), "audio_tokens": audio_out},
        }
        response = {"id": rid, "object": "realtime.response", "status": "completed", "usage": usage}
        await self.send({"type": "response.done", "response": response})
