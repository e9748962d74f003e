"""Chat Completions chunks -> Responses stream events, a small state machine fed one chunk at a time.

One output item is open at a time, as in OpenAI's own streams: reasoning, then the message,
then each function call; a delta of another kind closes the open item and opens the next.
A late arguments fragment for a call that was already closed (no known upstream does this)
is folded into the final Response only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.translate.responses.response import (
    function_call_item,
    incomplete_reason,
    item_id,
    message_item,
    reasoning_item,
    reasoning_text,
    refusal_part,
    response_object,
    responses_usage,
    text_part,
)

__all__ = ["ChatToResponsesStream"]


@dataclass(slots=True)
class _Item:
    kind: str  # reasoning | message | function_call
    index: int
    id: str
    text: str = ""  # reasoning text, message text, or call arguments
    refusal: str = ""
    parts: list[str] = field(default_factory=list)  # message content part kinds, in content_index order
    call_id: str = ""
    name: str = ""
    status: str = "in_progress"

    def final(self) -> dict[str, Any]:
        if self.kind == "reasoning":
            return reasoning_item(self.id, self.text)
        if self.kind == "message":
            content = [text_part(self.text) if p == "output_text" else refusal_part(self.refusal) for p in self.parts]
            return message_item(self.id, content, self.status)
        return function_call_item(self.id, self.call_id, self.name, self.text, self.status)


class ChatToResponsesStream:
    """Feed decoded chat.completion.chunk dicts; get Responses events with increasing sequence numbers.

    `response` is the in-progress Response until `finish()` or `fail()` replaces it with the final one;
    `usage` is the chat-shaped usage once an upstream chunk carried it; `text` is the output text so far.
    """

    def __init__(self, *, response_id: str, request: dict[str, Any], created_at: int) -> None:
        self.response_id = response_id
        self.request = request
        self.created_at = created_at
        self.usage: dict[str, Any] | None = None
        self.text = ""
        self._sequence = 0
        self._model: str | None = None
        self._items: list[_Item] = []
        self._current: _Item | None = None
        self._calls: dict[int, _Item] = {}
        self._finish_reason: str | None = None
        self._done = False
        self.response = self._envelope("in_progress", [])

    # -- public steps ------------------------------------------------------------------------

    def start(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        self._emit(out, "response.created", response=self._envelope("in_progress", []))
        self._emit(out, "response.in_progress", response=self._envelope("in_progress", []))
        return out

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self._done or not isinstance(chunk, dict):
            return out
        model = chunk.get("model")
        if self._model is None and isinstance(model, str) and model:
            self._model = model
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._delta(delta, out)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return out

    def finish(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self._done:
            return out
        reason = incomplete_reason(self._finish_reason)
        status = "incomplete" if reason else "completed"
        self._close(out, status)
        output = [item.final() for item in self._items]
        self.response = self._envelope(status, output, usage=responses_usage(self.usage), reason=reason)
        self._emit(out, f"response.{status}", response=self.response)
        self._done = True
        return out

    def fail(self, message: str, code: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self._done:
            return out
        if self._current is not None:
            self._current.status = "incomplete"
        output = [item.final() for item in self._items]
        error = {"code": code, "message": message}
        self.response = self._envelope("failed", output, usage=responses_usage(self.usage), error=error)
        self._emit(out, "response.failed", response=self.response)
        self._done = True
        return out

    # -- deltas ------------------------------------------------------------------------------

    def _delta(self, delta: dict[str, Any], out: list[dict[str, Any]]) -> None:
        reasoning = reasoning_text(delta)
        if reasoning:
            self._reasoning(reasoning, out)
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._content(content, out)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._refusal(refusal, out)
        for call in delta.get("tool_calls") or []:
            if isinstance(call, dict):
                self._tool_call(call, out)

    def _reasoning(self, text: str, out: list[dict[str, Any]]) -> None:
        item = self._current
        if item is None or item.kind != "reasoning":
            item = self._open(out, "reasoning", "rs")
            part = {"type": "summary_text", "text": ""}
            self._emit(out, "response.reasoning_summary_part.added", **self._at(item), summary_index=0, part=part)
        item.text += text
        self._emit(out, "response.reasoning_summary_text.delta", **self._at(item), summary_index=0, delta=text)

    def _content(self, text: str, out: list[dict[str, Any]]) -> None:
        item = self._message_part(out, "output_text")
        item.text += text
        self.text += text
        index = item.parts.index("output_text")
        self._emit(out, "response.output_text.delta", **self._at(item), content_index=index, delta=text, logprobs=[])

    def _refusal(self, text: str, out: list[dict[str, Any]]) -> None:
        item = self._message_part(out, "refusal")
        item.refusal += text
        index = item.parts.index("refusal")
        self._emit(out, "response.refusal.delta", **self._at(item), content_index=index, delta=text)

    def _message_part(self, out: list[dict[str, Any]], kind: str) -> _Item:
        item = self._current
        if item is None or item.kind != "message":
            item = self._open(out, "message", "msg")
        if kind not in item.parts:
            part = text_part("") if kind == "output_text" else refusal_part("")
            self._emit(out, "response.content_part.added", **self._at(item), content_index=len(item.parts), part=part)
            item.parts.append(kind)
        return item

    def _tool_call(self, call: dict[str, Any], out: list[dict[str, Any]]) -> None:
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        index = self._tool_index(call)
        item = self._calls.get(index)
        if item is None:
            call_id = call.get("id") or item_id("call", self.response_id, len(self._items))
            item = self._open(out, "function_call", "fc", call_id=call_id, name=function.get("name") or "")
            self._calls[index] = item
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            item.text += arguments
            if item is self._current:
                self._emit(out, "response.function_call_arguments.delta", **self._at(item), delta=arguments)

    def _tool_index(self, call: dict[str, Any]) -> int:
        index = call.get("index")
        if isinstance(index, int):
            return index
        # Without an index, a new id starts a new call and anything else continues the open one.
        known = {item.call_id: key for key, item in self._calls.items()}
        if call.get("id") and call["id"] not in known:
            return max(self._calls, default=-1) + 1
        if call.get("id"):
            return known[call["id"]]
        return max(self._calls, default=0)

    # -- items -------------------------------------------------------------------------------

    def _open(self, out: list[dict[str, Any]], kind: str, prefix: str, call_id: str = "", name: str = "") -> _Item:
        self._close(out, "completed")
        index = len(self._items)
        item = _Item(kind, index, item_id(prefix, self.response_id, index), call_id=call_id, name=name)
        self._items.append(item)
        self._current = item
        self._emit(out, "response.output_item.added", output_index=index, item=item.final())
        return item

    def _close(self, out: list[dict[str, Any]], status: str) -> None:
        item = self._current
        if item is None:
            return
        self._current = None
        item.status = status
        at = self._at(item)
        if item.kind == "reasoning":
            part = {"type": "summary_text", "text": item.text}
            self._emit(out, "response.reasoning_summary_text.done", **at, summary_index=0, text=item.text)
            self._emit(out, "response.reasoning_summary_part.done", **at, summary_index=0, part=part)
        elif item.kind == "message":
            for index, kind in enumerate(item.parts):
                if kind == "output_text":
                    self._emit(out, "response.output_text.done", **at, content_index=index, text=item.text, logprobs=[])
                    part = text_part(item.text)
                else:
                    self._emit(out, "response.refusal.done", **at, content_index=index, refusal=item.refusal)
                    part = refusal_part(item.refusal)
                self._emit(out, "response.content_part.done", **at, content_index=index, part=part)
        else:
            self._emit(out, "response.function_call_arguments.done", **at, name=item.name, arguments=item.text)
        self._emit(out, "response.output_item.done", output_index=item.index, item=item.final())

    # -- plumbing ----------------------------------------------------------------------------

    @staticmethod
    def _at(item: _Item) -> dict[str, Any]:
        return {"item_id": item.id, "output_index": item.index}

    def _emit(self, out: list[dict[str, Any]], type_: str, **fields: Any) -> None:
        out.append({"type": type_, **fields, "sequence_number": self._sequence})
        self._sequence += 1

    def _envelope(self, status: str, output: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        model = self._model or self.request.get("model")
        return response_object(
            response_id=self.response_id,
            request=self.request,
            created_at=self.created_at,
            model=model,
            status=status,
            output=output,
            **extra,
        )
