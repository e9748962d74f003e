"""Bedrock Converse answers -> Chat Completions: whole answers (`converse_response_to_chat`) and streams
(`ConverseToChatStream`).

- The answer's content blocks: text blocks are concatenated into content, reasoningContent's
  reasoningText into reasoning_content (signatures and redactedContent are dropped: the Chat dialect
  cannot carry them back), toolUse blocks become tool_calls (id = toolUseId, arguments = the input as
  compact JSON). Other blocks (citations, images) are dropped. content is None when the answer is only
  tool calls.
- stopReason: end_turn / stop_sequence -> stop, max_tokens -> length, tool_use -> tool_calls,
  guardrail_intervened / content_filtered -> content_filter, anything else -> stop.
- usage: prompt_tokens = inputTokens + cacheReadInputTokens + cacheWriteInputTokens (Converse counts
  cached tokens apart; OpenAI counts them inside prompt_tokens), completion_tokens = outputTokens, and
  prompt_tokens_details.cached_tokens = cacheReadInputTokens when Converse reports it.
- A document without an `output.message.content` list raises ValueError: translators do not import
  the gateway, so the caller turns it into its bad-upstream-reply error.
- Streams: messageStart -> the role chunk; contentBlockStart of a toolUse -> a tool_calls chunk (index =
  the call's position in the answer, arguments ""); contentBlockDelta text -> content, toolUse.input ->
  arguments for the same index, reasoningContent.text -> reasoning_content (signature and
  redactedContent yield nothing); contentBlockStop -> nothing; messageStop -> an empty delta with the
  finish_reason (`complete`); metadata -> a usage chunk with no choices (`done`: nothing follows).
  Unknown events, and the `p` padding member Bedrock adds to payloads, are ignored. Mid-stream
  exceptions are event-stream `exception` messages, which the caller handles before this translator.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

__all__ = ["ConverseToChatStream", "chat_usage_from_converse", "converse_response_to_chat", "finish_reason"]

Json = dict[str, Any]

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


def finish_reason(stop_reason: Any) -> str:
    """A Converse stopReason as a Chat finish_reason."""
    return _FINISH.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def chat_usage_from_converse(usage: Any) -> Json:
    """Converse usage as an OpenAI usage object (zeros when absent)."""
    usage = usage if isinstance(usage, dict) else {}
    cache_read = usage.get("cacheReadInputTokens")
    prompt = int(usage.get("inputTokens") or 0) + int(cache_read or 0) + int(usage.get("cacheWriteInputTokens") or 0)
    completion = int(usage.get("outputTokens") or 0)
    out: Json = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if cache_read is not None:
        out["prompt_tokens_details"] = {"cached_tokens": int(cache_read)}
    return out


def _arguments(value: Any) -> str:
    return json.dumps({} if value is None else value, ensure_ascii=False, separators=(",", ":"))


def _reasoning_text(block: Any) -> str:
    reasoning = block.get("reasoningText") if isinstance(block, dict) else None
    text = reasoning.get("text") if isinstance(reasoning, dict) else None
    return text if isinstance(text, str) else ""


def converse_response_to_chat(doc: Json, public_model: str, *, created: int | None = None) -> Json:
    """A Converse answer as an OpenAI chat.completion; ValueError when it carries no message content."""
    output = doc.get("output")
    message = output.get("message") if isinstance(output, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        raise ValueError("Bedrock Converse answer has no output.message.content list")
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[Json] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            function = {"name": str(use.get("name") or ""), "arguments": _arguments(use.get("input"))}
            calls.append(
                {"id": str(use.get("toolUseId") or f"call_{len(calls)}"), "type": "function", "function": function}
            )
        elif "reasoningContent" in block:
            reasoning.append(_reasoning_text(block["reasoningContent"]))
    chat_message: Json = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if "".join(reasoning):
        chat_message["reasoning_content"] = "".join(reasoning)
    if calls:
        chat_message["tool_calls"] = calls
    choice = {
        "index": 0,
        "message": chat_message,
        "logprobs": None,
        "finish_reason": finish_reason(doc.get("stopReason")),
    }
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex,
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": public_model,
        "choices": [choice],
        "usage": chat_usage_from_converse(doc.get("usage")),
    }


class ConverseToChatStream:
    """ConverseStream events in, chat.completion.chunk dicts out, one event at a time."""

    def __init__(self, public_model: str, *, created: int | None = None) -> None:
        self.public_model = public_model
        self.created = int(time.time()) if created is None else created
        self.id = "chatcmpl-" + uuid.uuid4().hex
        self.done = False
        """The metadata event arrived: nothing more will come."""
        self.complete = False
        """A messageStop arrived: the answer is whole."""
        self.finish_reason: str | None = None
        self.usage: Json | None = None
        """The metadata event's usage, OpenAI-shaped."""
        self._started = False
        self._tools: dict[int, int] = {}  # contentBlockIndex -> tool call index
        self._text: list[str] = []

    @property
    def text(self) -> str:
        """The content streamed so far."""
        return "".join(self._text)

    def feed(self, event: str, doc: Json) -> list[Json]:
        """One event (its `:event-type` and JSON payload) -> the chunks it yields."""
        if event == "messageStart":
            return self._start()
        if event == "contentBlockStart":
            start = doc.get("start")
            use = start.get("toolUse") if isinstance(start, dict) else None
            if not isinstance(use, dict):
                return []
            index = self._tools[self._block(doc)] = len(self._tools)
            call = {
                "index": index,
                "id": str(use.get("toolUseId") or f"call_{index}"),
                "type": "function",
                "function": {"name": str(use.get("name") or ""), "arguments": ""},
            }
            return [*self._start(), self._chunk({"tool_calls": [call]})]
        if event == "contentBlockDelta":
            delta = doc.get("delta")
            return self._delta(self._block(doc), delta) if isinstance(delta, dict) else []
        if event == "messageStop":
            self.complete = True
            self.finish_reason = finish_reason(doc.get("stopReason"))
            return [*self._start(), self._chunk({}, self.finish_reason)]
        if event == "metadata":
            self.done = True
            self.usage = chat_usage_from_converse(doc.get("usage"))
            return [{**self._base(), "choices": [], "usage": self.usage}]
        return []

    def finish(self) -> list[Json]:
        """Nothing is owed once the upstream body has ended: metadata already carried the usage."""
        return []

    @staticmethod
    def _block(doc: Json) -> int:
        index = doc.get("contentBlockIndex")
        return index if isinstance(index, int) else 0

    def _delta(self, block: int, delta: Json) -> list[Json]:
        if isinstance(delta.get("text"), str):
            if not delta["text"]:
                return []
            self._text.append(delta["text"])
            return [*self._start(), self._chunk({"content": delta["text"]})]
        use = delta.get("toolUse")
        if isinstance(use, dict):
            if block not in self._tools or not isinstance(use.get("input"), str) or not use["input"]:
                return []
            call = {"index": self._tools[block], "function": {"arguments": use["input"]}}
            return [*self._start(), self._chunk({"tool_calls": [call]})]
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict) and isinstance(reasoning.get("text"), str) and reasoning["text"]:
            return [*self._start(), self._chunk({"reasoning_content": reasoning["text"]})]
        return []

    def _start(self) -> list[Json]:
        """The role chunk, once, before anything else (messageStart normally brings it)."""
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def _base(self) -> Json:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.public_model}

    def _chunk(self, delta: Json, finish: str | None = None) -> Json:
        return {**self._base(), "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
