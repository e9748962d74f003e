"""Responses in, an upstream with native Responses (kind openai): bytes pass through, `model` rewritten."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec

from app.accounting.events import Usage
from app.gateway.chat_passthrough import count_field
from app.gateway.exchange import BadUpstreamReply, Served, UpstreamStreamError
from app.gateway.model_member import sub_model
from app.gateway.snapshot import ProviderEntry
from app.gateway.sse import frame_data, frame_event
from app.gateway.stream_text import ResponsesText
from app.providers.base import ProviderAdapter, UpstreamRequest
from app.providers.openai import OpenAIAdapter
from app.translate.responses import with_canonical_call_ids

__all__ = ["ResponsesPassthrough", "responses_api_usage"]

_decode = msgspec.json.decode
_encode = msgspec.json.encode
_ENDS = {b"response.completed", b"response.incomplete", b"response.failed"}
_CARRIES_RESPONSE = {b"response.created", b"response.in_progress", *_ENDS}
_SEQUENCE = re.compile(rb'"sequence_number"\s*:\s*(\d+)')


def responses_api_usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    return Usage(
        prompt_tokens=count_field(raw, "input_tokens"),
        completion_tokens=count_field(raw, "output_tokens"),
        cached_tokens=count_field(raw.get("input_tokens_details"), "cached_tokens"),
        reasoning_tokens=count_field(raw.get("output_tokens_details"), "reasoning_tokens"),
    )


class ResponsesPassthrough:
    upstream_dialect = "responses"

    def __init__(self, body: dict[str, Any], on_response: Callable[[dict[str, Any]], None] | None) -> None:
        self._body = with_canonical_call_ids(body)
        self._on_response = on_response
        self._encoded: dict[str, bytes] = {}

    def upstream_body(self, provider: ProviderEntry, model: str, stream: bool) -> bytes:
        found = self._encoded.get(model)
        if found is None:
            found = self._encoded[model] = _encode({**self._body, "model": model})
        return found

    def request(self, adapter: ProviderAdapter, provider: ProviderEntry, model: str, stream: bool) -> UpstreamRequest:
        assert isinstance(adapter, OpenAIAdapter)
        return adapter.endpoint(provider, "/responses", self.upstream_body(provider, model, stream), model)

    def reply(self, body: bytes, served: Served) -> tuple[bytes, Usage]:
        try:
            doc = _decode(body)
        except msgspec.DecodeError:
            raise BadUpstreamReply("upstream returned a body that is not JSON") from None
        if not isinstance(doc, dict) or doc.get("object") != "response":
            raise BadUpstreamReply("upstream returned something that is not a Response")
        doc["model"] = served.public_model
        if self._on_response is not None:
            self._on_response(doc)
        return _encode(doc), responses_api_usage(doc.get("usage")) or Usage()

    def stream(self, served: Served) -> ResponsesPassthroughRelay:
        return ResponsesPassthroughRelay(served, self._on_response)


class ResponsesPassthroughRelay:
    """Decodes only the events that carry the Response object (for usage and storage)."""

    def __init__(self, served: Served, on_response: Callable[[dict[str, Any]], None] | None) -> None:
        self._model = b'"model":' + _encode(served.public_model)
        self._on_response = on_response
        self._text = ResponsesText()
        """The output text deltas' text, not their frames (see app.gateway.stream_text)."""
        self._final: dict[str, Any] | None = None
        self._created: bytes | None = None
        self._last = b""
        self.usage: Usage | None = None
        self.terminated = False
        self.malformed = 0

    @property
    def complete(self) -> bool:
        return self.terminated

    def feed(self, frame: bytes) -> bytes:
        data = frame_data(frame)
        if data is None:
            return b""
        if not (data.startswith(b"{") and data.endswith(b"}")):
            self.malformed += 1
            return b""
        event = frame_event(frame) or b""
        self._last = data  # kept, not parsed: its sequence number matters only if the stream breaks
        if event == b"response.output_text.delta":
            self._text.add(data)
        elif event in _CARRIES_RESPONSE:
            frame = sub_model(self._model, frame)
            if event == b"response.created":
                self._created = frame_data(frame)
            elif event in _ENDS:
                self._end(frame_data(frame) or b"{}")
        elif event == b"error":
            raise UpstreamStreamError("upstream sent an error event")
        return frame + b"\n\n"

    def _end(self, data: bytes) -> None:
        self.terminated = True
        try:
            response = _decode(data).get("response") or {}
        except msgspec.DecodeError:
            return
        self._final = response
        self.usage = responses_api_usage(response.get("usage"))
        if self._on_response is not None and isinstance(response, dict):
            self._on_response(response)

    def finish(self) -> bytes:
        return b""

    def fail(self, message: str) -> bytes:
        """How OpenAI ends a Responses stream that broke: `response.failed` with the Response the
        stream announced, numbered after the last event relayed (`error` if none was announced)."""
        found = _SEQUENCE.search(self._last)
        sequence = int(found.group(1)) + 1 if found else 0
        error = {"code": "server_error", "message": message}
        try:
            response = _decode(self._created).get("response") if self._created else None
        except msgspec.DecodeError:
            response = None
        if not isinstance(response, dict):
            event: dict[str, Any] = {"type": "error", **error, "param": None, "sequence_number": sequence}
        else:
            response.update(status="failed", error=error)
            event = {"type": "response.failed", "sequence_number": sequence, "response": response}
        return b"event: " + event["type"].encode() + b"\ndata: " + _encode(event) + b"\n\n"

    def finish_reason(self) -> str | None:
        return str(self._final.get("status")) if self._final else None

    def text(self) -> str:
        return self._text.text()
