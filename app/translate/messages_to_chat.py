"""Anthropic Messages clients on an OpenAI Chat Completions upstream: request, reply and stream translation.

Where the dialects differ (UnsupportedFeatureError names the feature, unless "dropped"):

- `system` (string or text blocks, joined with a blank line) becomes the first, system, message.
- A user turn's `tool_result` blocks become `tool` messages placed before the rest of the turn; their text
  blocks are joined with newlines, `is_error` prefixes the text with "Error: ", images in them are refused.
- Thinking and redacted-thinking blocks in assistant history are dropped (a Chat upstream cannot use them).
- Base64 images become data URLs; base64 PDF documents become `file` parts; other block types are refused.
- Tools keep `input_schema` as `parameters` (and `strict`); server tools (typed, like web_search) are refused.
- `tool_choice` auto/any/tool/none -> auto/required/function/none; `disable_parallel_tool_use` ->
  `parallel_tool_calls: false`.
- `thinking.budget_tokens` -> `reasoning_effort` (below 4096 low, below 16384 medium, else high);
  `output_config.effort` wins (max -> xhigh); `output_config.format` -> `response_format` json_schema.
- `stream` asks for `stream_options.include_usage` so the final `message_delta` carries real usage.
- Dropped: `top_k` (no Chat equivalent; a sampling hint), `cache_control`, `service_tier`, `container`,
  `context_management`, citations settings. Refused: `mcp_servers`.
- Replies: `reasoning_content` (or `reasoning`) becomes a thinking block with an empty signature; tool-call
  arguments that are not a JSON object become `{}` (a stream passes the raw pieces through); any tool call
  makes `stop_reason` tool_use, whatever `finish_reason` said; `stop_sequence` is always null (Chat does
  not say which one matched).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from app.gateway.exchange import UpstreamStreamError
from app.translate.anthropic.messages_to_chat_request import messages_request_to_chat

__all__ = [
    "ChatToMessagesStream",
    "Event",
    "chat_response_to_messages",
    "messages_request_to_chat",
    "messages_usage",
    "ping_event",
    "stop_reason",
]

_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

Event = tuple[str, dict[str, Any]]
"""An Anthropic stream event: its name and its data."""


# -- reply -----------------------------------------------------------------------------------------


def stop_reason(finish: Any, has_tool_calls: bool = False) -> str:
    """OpenAI `finish_reason` -> Anthropic `stop_reason` (tool calls win over "stop")."""
    reason = _STOP.get(finish, "end_turn") if isinstance(finish, str) else "end_turn"
    return "tool_use" if has_tool_calls and reason == "end_turn" else reason


def messages_usage(usage: Any) -> dict[str, Any]:
    """OpenAI usage -> Anthropic usage (cached prompt tokens are reported as cache reads)."""
    raw = usage if isinstance(usage, dict) else {}
    details = raw.get("prompt_tokens_details")
    cached = int((details.get("cached_tokens") if isinstance(details, dict) else 0) or 0)
    return {
        "input_tokens": max(0, int(raw.get("prompt_tokens") or 0) - cached),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": int(raw.get("completion_tokens") or 0),
    }


def _message_id(chat_id: Any) -> str:
    if not chat_id:
        return "msg_" + uuid.uuid4().hex[:24]
    return "msg_" + str(chat_id).removeprefix("chatcmpl-")


def _tool_input(arguments: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _reasoning(message: dict[str, Any]) -> str:
    value = message.get("reasoning_content") or message.get("reasoning")
    return value if isinstance(value, str) else ""


def chat_response_to_messages(chat: dict[str, Any], public_model: str) -> dict[str, Any]:
    """An OpenAI chat.completion -> an Anthropic Message answered by `public_model`."""
    choices = chat.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if _reasoning(message):
        content.append({"type": "thinking", "thinking": _reasoning(message), "signature": ""})
    text = message.get("content")
    if isinstance(text, list):
        text = "".join(str(p.get("text") or "") for p in text if isinstance(p, dict))
    text = text or message.get("refusal")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    calls = [c for c in message.get("tool_calls") or () if isinstance(c, dict)]
    for call in calls:
        fn = call.get("function") or {}
        block = {"type": "tool_use", "id": call.get("id"), "name": fn.get("name")}
        content.append({**block, "input": _tool_input(fn.get("arguments"))})
    return {
        "id": _message_id(chat.get("id")),
        "type": "message",
        "role": "assistant",
        "model": public_model,
        "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason"), bool(calls)),
        "stop_sequence": None,
        "usage": messages_usage(chat.get("usage")),
    }


# -- stream ----------------------------------------------------------------------------------------


def ping_event() -> Event:
    """A keep-alive event, as Anthropic sends after `message_start`."""
    return "ping", {"type": "ping"}


class ChatToMessagesStream:
    """OpenAI chat chunks in, Anthropic stream events out, in the official order: one instance per stream."""

    def __init__(self, *, public_model: str, message_id: str | None = None, input_tokens: int = 0) -> None:
        self.public_model = public_model
        self.done = False
        self.usage: dict[str, Any] | None = None
        self._message_id = message_id
        self._input_tokens = input_tokens
        self._started = False
        self._text: list[str] = []
        self._open: tuple[str, int] | None = None
        """Kind ("text", "thinking", "tool") and tool-call index of the open content block."""
        self._index = -1
        self._finish: str | None = None
        self._tool_calls = False
        self._tool_id: str | None = None

    @property
    def text(self) -> str:
        return "".join(self._text)

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        """The events one decoded upstream chunk turns into; raises UpstreamStreamError on an error chunk."""
        error = chunk.get("error")
        if error is not None and not chunk.get("choices"):
            message = error.get("message") if isinstance(error, dict) else error
            raise UpstreamStreamError(str(message or "upstream sent an error event"))
        events = [] if self._started else [self._message_start(chunk)]
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            events.extend(self._delta(choice.get("delta") or {}))
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return events

    def finish(self) -> list[Event]:
        """Close the open block and end the message (after the upstream's `[DONE]`)."""
        if self.done:
            return []
        self.done = True
        events = [] if self._started else [self._message_start({})]
        events.extend(self._close())
        usage: dict[str, Any] = {"output_tokens": 1}
        if self.usage is not None:
            usage = messages_usage(self.usage)
        delta = {"stop_reason": stop_reason(self._finish, self._tool_calls), "stop_sequence": None}
        events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    def _message_start(self, chunk: dict[str, Any]) -> Event:
        self._started = True
        usage = {"input_tokens": self._input_tokens, "cache_creation_input_tokens": 0}
        usage |= {"cache_read_input_tokens": 0, "output_tokens": 1}
        message: dict[str, Any] = {
            "id": self._message_id or _message_id(chunk.get("id")),
            "type": "message",
            "role": "assistant",
            "model": self.public_model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return "message_start", {"type": "message_start", "message": message}

    def _delta(self, delta: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        reasoning = _reasoning(delta)
        if reasoning:
            events += self._start(("thinking", -1), {"type": "thinking", "thinking": "", "signature": ""})
            events.append(self._block_delta({"type": "thinking_delta", "thinking": reasoning}))
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._text.append(content)
            events += self._start(("text", -1), {"type": "text", "text": ""})
            events.append(self._block_delta({"type": "text_delta", "text": content}))
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                events += self._tool_delta(call)
        return events

    def _tool_delta(self, call: dict[str, Any]) -> list[Event]:
        index = int(call.get("index") or 0)
        fn = call.get("function") or {}
        call_id = call.get("id")
        events: list[Event] = []
        # Some upstreams omit `index`; a new id on the same index is then a new call.
        if self._open != ("tool", index) or (call_id and call_id != self._tool_id):
            self._tool_calls = True
            self._tool_id = call_id or f"toolu_{index}"
            block = {"type": "tool_use", "id": self._tool_id, "name": fn.get("name") or ""}
            events = self._close() + self._start(("tool", index), {**block, "input": {}})
        arguments = fn.get("arguments")
        if isinstance(arguments, str) and arguments:
            events.append(self._block_delta({"type": "input_json_delta", "partial_json": arguments}))
        return events

    def _start(self, key: tuple[str, int], block: dict[str, Any]) -> list[Event]:
        if self._open == key:
            return []
        events = self._close()
        self._open = key
        self._index += 1
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": self._index, "content_block": block})
        )
        return events

    def _block_delta(self, delta: dict[str, Any]) -> Event:
        return "content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta}

    def _close(self) -> list[Event]:
        if self._open is None:
            return []
        self._open = None
        return [("content_block_stop", {"type": "content_block_stop", "index": self._index})]
