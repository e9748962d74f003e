"""The demo provider's Realtime session, in process: a fresh install can try `client.realtime.connect`.

It speaks the GA event shapes for text: `session.created` at the start, `session.updated`,
`conversation.item.added`, and for `response.create` an echo of the last user text word by word
(`response.output_text.delta`) then `response.done` with usage. Audio is acknowledged and counted
(one token per 50 bytes) but not answered. It has the surface of the WebSocket client the gateway
relays (`send`, async iteration, `close`, `close_code`, `close_reason`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator
from typing import Any

import msgspec

__all__ = ["DemoRealtime"]

_encode = msgspec.json.encode


class DemoRealtime:
    def __init__(self, model: str) -> None:
        self.model = model
        self.close_code: int | None = None
        self.close_reason = ""
        self._out: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self._session: dict[str, Any] = {"id": "sess_demo", "object": "realtime.session", "type": "realtime"}
        self._session["model"] = model
        self._text = ""
        self._audio_bytes = 0
        self._serial = 0
        self._responses = 0
        self._emit("session.created", session=dict(self._session))

    def _emit(self, kind: str, **fields: Any) -> None:
        self._serial += 1
        self._out.put_nowait(_encode({"type": kind, "event_id": f"event_demo_{self._serial}", **fields}).decode())

    async def send(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self._out.put_nowait(message)  # nothing in the API is binary: echoed, as the test fake does
            return
        try:
            event = msgspec.json.decode(message)
        except msgspec.DecodeError:
            self._error("invalid_json", "The frame is not JSON")
            return
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "session.update" and isinstance(event.get("session"), dict):
            self._session.update(event["session"])
            self._emit("session.updated", session=dict(self._session))
        elif kind == "conversation.item.create" and isinstance(event.get("item"), dict):
            item = {"id": f"item_demo_{self._serial}", **event["item"]}
            self._text = _input_text(item) or self._text
            self._emit("conversation.item.added", previous_item_id=None, item=item)
        elif kind == "input_audio_buffer.append":
            try:
                self._audio_bytes += len(base64.b64decode(str(event.get("audio", ""))))
            except (binascii.Error, ValueError):
                self._error("invalid_audio", "audio must be base64")
        elif kind == "input_audio_buffer.commit":
            self._emit("input_audio_buffer.committed", item_id=f"item_demo_{self._serial}")
        elif kind == "response.create":
            self._respond()
        elif not isinstance(kind, str):
            self._error("invalid_event", "An event needs a string `type`")

    def _error(self, code: str, message: str) -> None:
        self._emit("error", error={"type": "invalid_request_error", "code": code, "message": message})

    def _respond(self) -> None:
        self._responses += 1
        rid = f"resp_demo_{self._responses}"
        self._emit("response.created", response={"id": rid, "object": "realtime.response", "status": "in_progress"})
        words = f"Echo: {self._text or '(nothing to echo)'}".split()
        for i, word in enumerate(words):
            self._emit("response.output_text.delta", response_id=rid, delta=word if i == 0 else " " + word)
        self._emit("response.output_text.done", response_id=rid, text=" ".join(words))
        text_in, audio_in = max(1, len(self._text.split())), self._audio_bytes // 50
        usage = {
            "total_tokens": text_in + audio_in + len(words),
            "input_tokens": text_in + audio_in,
            "output_tokens": len(words),
            "input_token_details": {"text_tokens": text_in, "audio_tokens": audio_in, "cached_tokens": 0},
            "output_token_details": {"text_tokens": len(words), "audio_tokens": 0},
        }
        response = {"id": rid, "object": "realtime.response", "status": "completed", "usage": usage}
        self._emit("response.done", response=response)

    async def close(self) -> None:
        if self.close_code is None:
            self.close_code = 1000
            self._out.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[str | bytes]:
        while (frame := await self._out.get()) is not None:
            yield frame


def _input_text(item: dict[str, Any]) -> str:
    content = item.get("content")
    if not isinstance(content, list):
        return ""
    return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "input_text")
