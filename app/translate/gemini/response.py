"""Gemini responses -> Chat Completions: whole answers (`gemini_response_to_chat`) and streams (`GeminiToChatStream`).

Candidates -> choices; text parts are joined into content, `thought: true` parts into
reasoning_content, functionCall parts become tool_calls (the upstream id, else `call_<n>` counting
calls in the choice; arguments as JSON); other parts (executable code, inline data) are dropped.
finishReason: STOP -> stop (tool_calls when the choice called a tool), MAX_TOKENS -> length, the
safety family -> content_filter, anything else -> stop. A prompt blocked by promptFeedback gives
one empty choice with content_filter. Usage: prompt = promptTokenCount + toolUsePromptTokenCount,
completion = candidatesTokenCount + thoughtsTokenCount, with cached and reasoning tokens in the
details. Stream fragments repeat usageMetadata cumulatively, so the last one wins; an `{"error"}`
payload mid-stream is kept in `GeminiToChatStream.error` for the caller to turn into its error event.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

__all__ = ["GeminiToChatStream", "chat_usage_from_gemini", "gemini_response_to_chat"]

Json = dict[str, Any]

_FILTERED_WORDS = "SAFETY RECITATION BLOCKLIST PROHIBITED_CONTENT SPII IMAGE_SAFETY IMAGE_PROHIBITED_CONTENT"
_FILTERED = frozenset(_FILTERED_WORDS.split())


def chat_usage_from_gemini(meta: Any) -> Json:
    """Gemini usageMetadata as an OpenAI usage object (zeros when absent)."""
    meta = meta if isinstance(meta, dict) else {}
    prompt = int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0)
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    completion = int(meta.get("candidatesTokenCount") or 0) + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": int(meta.get("cachedContentTokenCount") or 0)},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _finish_reason(reason: Any, called_tools: bool) -> str:
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return "tool_calls" if called_tools else "stop"


def _tool_call(call: Json, n: int) -> Json:
    call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else f"call_{n}"
    arguments = json.dumps(call.get("args") or {}, ensure_ascii=False, separators=(",", ":"))
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": str(call.get("name") or ""), "arguments": arguments},
    }


def _pieces(candidate: Json) -> list[tuple[str, Any]]:
    """The candidate's parts as ("call", functionCall) / ("thought", text) / ("text", text), in order."""
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    out: list[tuple[str, Any]] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("functionCall"), dict):
            out.append(("call", part["functionCall"]))
        elif isinstance(part.get("text"), str) and part["text"]:
            out.append(("thought" if part.get("thought") else "text", part["text"]))
    return out


def _completion_id(doc: Json) -> str:
    response_id = doc.get("responseId")
    return "chatcmpl-" + (response_id if isinstance(response_id, str) and response_id else uuid.uuid4().hex)


def _blocked(doc: Json) -> bool:
    feedback = doc.get("promptFeedback")
    return isinstance(feedback, dict) and bool(feedback.get("blockReason"))


def _choice(candidate: Json, position: int) -> Json:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[Json] = []
    for kind, value in _pieces(candidate):
        if kind == "call":
            calls.append(_tool_call(value, len(calls)))
        else:
            (thoughts if kind == "thought" else texts).append(value)
    content = "".join(texts) if texts or not calls else None
    message: Json = {"role": "assistant", "content": content, "refusal": None}
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if calls:
        message["tool_calls"] = calls
    finish = _finish_reason(candidate.get("finishReason"), bool(calls))
    return {
        "index": int(candidate.get("index", position)),
        "message": message,
        "logprobs": None,
        "finish_reason": finish,
    }


def gemini_response_to_chat(resp: Json, public_model: str, *, created: int | None = None) -> Json:
    """A generateContent response as an OpenAI chat.completion."""
    candidates = [c for c in resp.get("candidates") or [] if isinstance(c, dict)]
    choices = [_choice(c, i) for i, c in enumerate(candidates)]
    if not choices and _blocked(resp):
        message = {"role": "assistant", "content": "", "refusal": None}
        choices = [{"index": 0, "message": message, "logprobs": None, "finish_reason": "content_filter"}]
    return {
        "id": _completion_id(resp),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": public_model,
        "choices": choices,
        "usage": chat_usage_from_gemini(resp.get("usageMetadata")),
    }


@dataclass(slots=True)
class _ChoiceState:
    calls: int = 0
    finish: str | None = None


class GeminiToChatStream:
    """streamGenerateContent?alt=sse fragments in, chat.completion.chunk dicts out, one fragment at a time."""

    def __init__(self, *, public_model: str, created: int | None = None) -> None:
        self.public_model = public_model
        self.created = int(time.time()) if created is None else created
        self.id: str | None = None
        self.done = False
        """A finishReason (or a prompt block) was seen for every choice."""
        self.usage: Json | None = None
        """The latest usageMetadata, OpenAI-shaped."""
        self.finish_reason: str | None = None
        self.error: Json | None = None
        """An `{"error": {...}}` payload the upstream sent mid-stream; the caller decides what to emit."""
        self._choices: dict[int, _ChoiceState] = {}
        self._text: list[str] = []

    @property
    def text(self) -> str:
        """The content streamed so far for choice 0."""
        return "".join(self._text)

    def feed(self, data: Json) -> list[Json]:
        """One decoded `data:` payload -> the chunks it yields."""
        if isinstance(data.get("error"), dict):
            self.error = data["error"]
            return []
        if self.id is None:
            self.id = _completion_id(data)
        if isinstance(data.get("usageMetadata"), dict):
            self.usage = chat_usage_from_gemini(data["usageMetadata"])
        candidates = [c for c in data.get("candidates") or [] if isinstance(c, dict)]
        if not candidates and _blocked(data):
            return self._candidate({"finishReason": "SAFETY"}, 0)
        out: list[Json] = []
        for position, candidate in enumerate(candidates):
            out.extend(self._candidate(candidate, position))
        return out

    def finish(self) -> list[Json]:
        """The closing usage chunk; call once the upstream body has ended."""
        usage = self.usage or chat_usage_from_gemini(None)
        return [{**self._base(), "choices": [], "usage": usage}]

    def _base(self) -> Json:
        if self.id is None:
            self.id = _completion_id({})
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.public_model}

    def _chunk(self, index: int, delta: Json, finish: str | None = None) -> Json:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**self._base(), "choices": [choice]}

    def _candidate(self, candidate: Json, position: int) -> list[Json]:
        index = int(candidate.get("index", position))
        state = self._choices.get(index)
        out: list[Json] = []
        if state is None:
            state = self._choices[index] = _ChoiceState()
            out.append(self._chunk(index, {"role": "assistant", "content": ""}))
        for kind, value in _pieces(candidate):
            if kind == "call":
                call = {"index": state.calls, **_tool_call(value, state.calls)}
                state.calls += 1
                out.append(self._chunk(index, {"tool_calls": [call]}))
            elif kind == "thought":
                out.append(self._chunk(index, {"reasoning_content": value}))
            else:
                if index == 0:
                    self._text.append(value)
                out.append(self._chunk(index, {"content": value}))
        if candidate.get("finishReason") and state.finish is None:
            state.finish = _finish_reason(candidate["finishReason"], state.calls > 0)
            out.append(self._chunk(index, {}, state.finish))
            if self.finish_reason is None or index == 0:
                self.finish_reason = state.finish
            self.done = all(s.finish is not None for s in self._choices.values())
        return out
