"""OpenAI Chat Completions clients on an Anthropic Messages upstream: request, reply and stream translation.

Where the dialects differ (UnsupportedFeatureError names the feature and the model, unless "dropped"):

- `system`/`developer` messages, wherever they stand, are joined (blank line between) into `system`.
- Consecutive turns of one role are merged (Anthropic wants user/assistant to alternate); `tool` messages
  become `tool_result` blocks of a user turn; a conversation the assistant opens gets a "." user turn first.
- A trailing assistant message is a prefill: its trailing whitespace is stripped (Anthropic rejects it).
- `reasoning_content` in assistant history is dropped: Anthropic only takes back thinking it signed.
- Tool-call `arguments` must be a JSON object ("" counts as {}), else InvalidRequestError.
- `max_completion_tokens` wins over `max_tokens`; absent, 4096 (Anthropic requires it).
- `temperature` above 1 is refused (Anthropic's range is 0..1); `top_p`, `stop`, `stream` map directly.
- `response_format` json_schema -> `output_config.format` (structured outputs); json_object is refused.
- `reasoning_effort` -> `thinking.budget_tokens` (minimal/low 1024, medium 4096, high 16384, xhigh 32768,
  none: off); when `max_tokens` does not exceed the budget the budget is added to it.
- `parallel_tool_calls: false` -> `disable_parallel_tool_use`; `user`/`safety_identifier` -> `metadata.user_id`.
- Refused: `n` > 1, `logprobs`/`top_logprobs`, `logit_bias`, audio output, `web_search_options`, legacy
  `functions`, non-function tools, content parts other than text, image and base64 PDF files.
- Dropped (hints with no Anthropic meaning): seed, frequency/presence penalties, prediction, service_tier,
  store, metadata, stream_options (Anthropic streams always carry usage), verbosity, prompt_cache_key.
- Replies: text and thinking blocks are concatenated; tool inputs become JSON strings; redacted thinking
  and server-tool blocks are dropped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from app.gateway.exchange import UpstreamStreamError
from app.providers.errors import ANTHROPIC_ERROR_STATUS
from app.translate.anthropic.chat_to_messages_request import DEFAULT_MAX_TOKENS, chat_request_to_messages

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "MessagesToChatStream",
    "chat_request_to_messages",
    "chat_usage",
    "finish_reason",
    "messages_response_to_chat",
]

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


# -- reply -----------------------------------------------------------------------------------------


def finish_reason(stop_reason: Any) -> str:
    """Anthropic `stop_reason` -> OpenAI `finish_reason`."""
    return _FINISH.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def chat_usage(usage: Any) -> dict[str, Any]:
    """Anthropic usage -> OpenAI usage (prompt tokens include cache reads and writes)."""
    raw = usage if isinstance(usage, dict) else {}
    cached = int(raw.get("cache_read_input_tokens") or 0)
    prompt = int(raw.get("input_tokens") or 0) + cached + int(raw.get("cache_creation_input_tokens") or 0)
    completion = int(raw.get("output_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _chat_id(message_id: Any) -> str:
    return "chatcmpl-" + str(message_id or "").removeprefix("msg_")


def _tool_call(block: dict[str, Any]) -> dict[str, Any]:
    arguments = json.dumps(block.get("input") or {}, ensure_ascii=False)
    return {"id": block.get("id"), "type": "function", "function": {"name": block.get("name"), "arguments": arguments}}


def messages_response_to_chat(msg: dict[str, Any], public_model: str, *, created: int | None = None) -> dict[str, Any]:
    """An Anthropic Message -> an OpenAI chat.completion answered by `public_model`."""
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in msg.get("content") or ():
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            text.append(str(block.get("text") or ""))
        elif kind == "thinking":
            reasoning.append(str(block.get("thinking") or ""))
        elif kind == "tool_use":
            calls.append(_tool_call(block))
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text or not calls else None}
    message["refusal"] = None
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason(msg.get("stop_reason"))}
    return {
        "id": _chat_id(msg.get("id")),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": public_model,
        "choices": [choice],
        "usage": chat_usage(msg.get("usage")),
    }


# -- stream ----------------------------------------------------------------------------------------


class MessagesToChatStream:
    """Anthropic stream events in, OpenAI `chat.completion.chunk` dicts out: one instance per stream."""

    def __init__(self, *, public_model: str, created: int | None = None) -> None:
        self.public_model = public_model
        self.created = int(time.time()) if created is None else created
        self.id = "chatcmpl-"
        self.done = False
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self._text: list[str] = []
        self._raw_usage: dict[str, Any] = {}
        self._tools: dict[int, int] = {}
        """Anthropic content-block index -> OpenAI tool-call index."""

    @property
    def text(self) -> str:
        return "".join(self._text)

    def feed(self, event: str | None, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The chunks one upstream event turns into; raises UpstreamStreamError on an `error` event."""
        handler: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = getattr(
            self, f"_on_{event or data.get('type')}", None
        )
        return handler(data) if handler is not None else []

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.public_model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def _take_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self._raw_usage.update({k: v for k, v in usage.items() if v is not None})
            self.usage = chat_usage(self._raw_usage)

    def _on_message_start(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        message = data.get("message") or {}
        self.id = _chat_id(message.get("id"))
        self._take_usage(message.get("usage"))
        return [self._chunk({"role": "assistant", "content": ""})]

    def _on_content_block_start(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        block = data.get("content_block") or {}
        kind = block.get("type")
        if kind == "tool_use":
            index = self._tools[int(data.get("index") or 0)] = len(self._tools)
            head = {"index": index, "id": block.get("id"), "type": "function"}
            head["function"] = {"name": block.get("name"), "arguments": ""}
            return [self._chunk({"tool_calls": [head]})]
        if kind == "text" and block.get("text"):
            return self._on_content_block_delta({"delta": {"type": "text_delta", "text": block["text"]}})
        if kind == "thinking" and block.get("thinking"):
            return [self._chunk({"reasoning_content": block["thinking"]})]
        return []

    def _on_content_block_delta(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        delta = data.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            self._text.append(delta["text"])
            return [self._chunk({"content": delta["text"]})]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        tool = self._tools.get(int(data.get("index") or 0))
        if kind == "input_json_delta" and delta.get("partial_json") and tool is not None:
            piece = {"index": tool, "function": {"arguments": delta["partial_json"]}}
            return [self._chunk({"tool_calls": [piece]})]
        return []

    def _on_message_delta(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        self._take_usage(data.get("usage"))
        stop = (data.get("delta") or {}).get("stop_reason")
        if stop is None:
            return []
        self.finish_reason = finish_reason(stop)
        return [self._chunk({}, self.finish_reason)]

    def _on_message_stop(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        self.done = True
        out = [] if self.finish_reason else self._on_message_delta({"delta": {"stop_reason": "end_turn"}})
        usage = self.usage or chat_usage(None)
        out.append({**self._chunk({}), "choices": [], "usage": usage})
        return out

    def _on_error(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        raw = data.get("error")
        error: dict[str, Any] = raw if isinstance(raw, dict) else {}
        message = str(error.get("message") or "upstream sent an error event")
        raise UpstreamStreamError(message, ANTHROPIC_ERROR_STATUS.get(str(error.get("type"))))
