"""The built-in `demo` provider: answers in the OpenAI dialect, in process, deterministically.

It lets a fresh install answer a real SDK request with no upstream account, and gives load
tests an upstream that costs nothing. The reply echoes the last user message.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from app.providers.base import Capabilities, Dialect, UpstreamError, UpstreamRequest
from app.providers.errors import parse_error_body

if TYPE_CHECKING:
    from app.gateway.snapshot import ProviderEntry

__all__ = ["DemoAdapter", "demo_reply"]

_encode = msgspec.json.encode


def _last_user_text(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"
                )
    return ""


def _words(text: str) -> list[str]:
    words = text.split()
    return [w + " " for w in words[:-1]] + words[-1:] if words else []


def demo_reply(body: bytes) -> tuple[int, bytes, list[bytes] | None]:
    """(status, JSON body, SSE frames when streaming) for one chat completion request."""
    try:
        request = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return 400, _encode({"error": {"message": "invalid JSON", "type": "invalid_request_error"}}), None
    model = str(request.get("model", "echo"))
    said = _last_user_text(request.get("messages"))
    text = f"Echo: {said}" if said else "Echo: (nothing to echo)"
    prompt_tokens = max(1, sum(len(_words(str(m.get("content", "")))) for m in request.get("messages", [])))
    words = _words(text)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": len(words),
        "total_tokens": prompt_tokens + len(words),
    }
    created = int(time.time())
    rid = "chatcmpl-demo"
    if not request.get("stream"):
        message = {"role": "assistant", "content": text}
        choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
        doc = {
            "id": rid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [choice],
            "usage": usage,
        }
        return 200, _encode(doc), None
    base = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model}
    frames = [
        _frame(
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
        )
    ]
    frames += [
        _frame({**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}) for w in words
    ]
    frames.append(_frame({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    options = request.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        frames.append(_frame({**base, "choices": [], "usage": usage}))
    frames.append(b"data: [DONE]\n\n")
    return 200, b"", frames


def _frame(doc: dict[str, Any]) -> bytes:
    return b"data: " + _encode(doc) + b"\n\n"


class DemoAdapter:
    """Served by `gateway/upstream.py` in process; no credentials, no network."""

    kind: ClassVar[str] = "demo"
    dialect: ClassVar[Dialect] = "chat"
    capabilities: ClassVar[Capabilities] = Capabilities(vision=False, json_schema=False, prefill=True)

    def auth_headers(self, provider: ProviderEntry) -> dict[str, str]:
        return {}

    def generate(self, provider: ProviderEntry, model: str, body: bytes, stream: bool) -> UpstreamRequest:
        return UpstreamRequest("POST", "inproc://demo/chat/completions", {}, body)

    def probe(self, provider: ProviderEntry) -> UpstreamRequest:
        return UpstreamRequest("GET", "inproc://demo/models", {})

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return parse_error_body(status, body)
