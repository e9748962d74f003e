"""A fake Anthropic upstream: Messages (JSON and SSE), models, the real API's request rules, failure modes.

Behaviour is picked by model name or scripted per request with `script(model, {...})`:

  fake-500 / fake-529 / fake-429 / fake-400 / fake-401 / fake-404   that status, Anthropic error body
  fake-context               400 "prompt is too long"
  fake-stall                 accepts and never answers (bounded at 60 s)
  fake-stall-first           sends headers, then nothing
  fake-stall-mid             streams a few events, then stalls
  fake-cut                   streams a few events, then resets the connection
  fake-no-done               streams the content, then ends cleanly without message_delta/message_stop
  fake-stream-error          streams a few events, then an `error` event (overloaded_error)
  fake-tool                  two parallel tool_use blocks; text once the tool_results come back
  fake-thinking              a thinking block (with a signature), then text
  fake-refusal               a short text with stop_reason refusal
  fake-chunks-N              streams N text deltas
  fake-slow-MS               waits MS milliseconds before answering
  anything else              a deterministic text answer (a trailing assistant turn is continued)

Script keys: status, body, headers, retry_after, message, delay_ms, stall, stall_first, stall_after,
cut_after, no_done, stream_error, text, chunks, chunk_delay_ms, tool_call, thinking, refusal, cache_read.

Requests are validated as the real API does, so translation bugs fail loudly: `x-api-key` or Bearer (401),
`anthropic-version` header, `model`, `max_tokens`, user/assistant alternation starting with user,
non-empty content, tool_use answered by tool_result in the next turn (results first), temperature 0..1,
no trailing whitespace in a final assistant turn, signed thinking blocks, thinking budget rules.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.openai import reply_text
from tests.fakes.server import FakeServer

__all__ = ["FakeAnthropic", "answer_message", "behaviour_for", "stream_frames", "validate_request"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_TOOL_CALLS = (("toolu_fake_weather_1", {"city": "Paris"}), ("toolu_fake_weather_2", {"city": "Tokyo"}))
_BLOCK_TYPES = {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"}


def behaviour_for(model: str) -> dict[str, Any]:
    simple: dict[str, dict[str, Any]] = {
        "fake-500": {"status": 500},
        "fake-529": {"status": 529},
        "fake-429": {"status": 429, "retry_after": "1"},
        "fake-400": {"status": 400},
        "fake-401": {"status": 401},
        "fake-404": {"status": 404},
        "fake-context": {"status": 400, "message": "prompt is too long: 210000 tokens > 200000 maximum"},
        "fake-stall": {"stall": True},
        "fake-stall-first": {"stall_first": True},
        "fake-stall-mid": {"stall_after": 4},
        "fake-cut": {"cut_after": 4},
        "fake-no-done": {"no_done": True},
        "fake-stream-error": {"stream_error": 4},
        "fake-tool": {"tool_call": True},
        "fake-thinking": {"thinking": True},
        "fake-refusal": {"refusal": True},
    }
    for name, behaviour in simple.items():
        if model == name or model.startswith(name + "@"):
            return dict(behaviour)
    if model.startswith("fake-chunks-"):
        return {"chunks": int(model.rsplit("-", 1)[1])}
    if model.startswith("fake-slow-"):
        return {"delay_ms": int(model.rsplit("-", 1)[1])}
    return {}


def _error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake0123456789"}


# -- validation: the real API's rules, with its messages ------------------------------------------------


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _check_block(path: str, block: dict[str, Any], role: str) -> str | None:
    kind = block.get("type")
    if kind not in _BLOCK_TYPES:
        return f"{path}.type: Input tag '{kind}' found using 'type' does not match any of the expected tags"
    if kind == "text" and not block.get("text"):
        return "messages: text content blocks must be non-empty"
    if kind in ("tool_use", "thinking", "redacted_thinking") and role != "assistant":
        return f"{path}: `{kind}` blocks can only be in `assistant` messages"
    if kind == "tool_result" and role != "user":
        return f"{path}: `tool_result` blocks can only be in `user` messages"
    if kind == "tool_use" and not (block.get("id") and block.get("name") and isinstance(block.get("input"), dict)):
        return f"{path}: tool_use blocks need id, name and an object input"
    if kind == "thinking" and not block.get("signature"):
        return f"{path}.signature: Field required"
    if kind == "image" and (block.get("source") or {}).get("type") not in ("base64", "url"):
        return f"{path}.source: Input tag does not match any of the expected tags"
    return None


def _check_tools_answered(index: int, messages: list[dict[str, Any]]) -> str | None:
    asked = [b["id"] for b in _blocks(messages[index]["content"]) if b.get("type") == "tool_use"]
    if index + 1 >= len(messages):
        return None
    answer = _blocks(messages[index + 1]["content"])
    answered = [b.get("tool_use_id") for b in answer if b.get("type") == "tool_result"]
    missing = [i for i in asked if i not in answered]
    if missing:
        return (
            f"messages.{index + 1}: `tool_use` ids were found without `tool_result` blocks immediately after: "
            f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` block in the "
            "next message."
        )
    extra = [i for i in answered if i not in asked]
    if extra:
        return (
            f"messages.{index + 1}.content: unexpected `tool_use_id` found in `tool_result` blocks: "
            f"{', '.join(map(str, extra))}. Each `tool_result` block must have a corresponding `tool_use` "
            "block in the previous message."
        )
    kinds = [b.get("type") for b in answer]
    if answered and kinds[: len(answered)] != ["tool_result"] * len(answered):
        return f"messages.{index + 1}: `tool_result` blocks must come first in the message content"
    return None


def _check_message(index: int, messages: list[dict[str, Any]]) -> str | None:
    message = messages[index]
    role, content = message.get("role"), message.get("content")
    if role not in ("user", "assistant"):
        return f"messages.{index}.role: Input should be 'user' or 'assistant'"
    expected = "user" if index % 2 == 0 else "assistant"
    if role != expected:
        if index == 0:
            return 'messages: first message must use the "user" role'
        return (
            f'messages: roles must alternate between "user" and "assistant", but found multiple "{role}" roles in a row'
        )
    final_assistant = index == len(messages) - 1 and role == "assistant"
    if not _blocks(content) and not final_assistant:
        return "messages: all messages must have non-empty content except for the optional final assistant message"
    for j, block in enumerate(_blocks(content)):
        problem = _check_block(f"messages.{index}.content.{j}", block, role)
        if problem:
            return problem
    if final_assistant and isinstance(content, str | list):
        last = _blocks(content)[-1:] or [{}]
        if last[0].get("type") == "text" and last[0]["text"] != last[0]["text"].rstrip():
            return "messages: final assistant content cannot end with trailing whitespace"
    return _check_tools_answered(index, messages) if role == "assistant" else None


def _check_params(doc: dict[str, Any]) -> str | None:
    if not doc.get("model"):
        return "model: Field required"
    max_tokens = doc.get("max_tokens")
    if max_tokens is None:
        return "max_tokens: Field required"
    if not isinstance(max_tokens, int) or max_tokens < 1:
        return "max_tokens: Input should be a valid integer greater than or equal to 1"
    temperature = doc.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        return "temperature: Input should be less than or equal to 1"
    thinking = doc.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens") or 0
        if budget < 1024:
            return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        if budget >= max_tokens:
            return "`max_tokens` must be greater than `thinking.budget_tokens`"
        if temperature is not None and temperature != 1:
            return "`temperature` may only be set to 1 when thinking is enabled"
    for i, tool in enumerate(doc.get("tools") or ()):
        if not tool.get("name") or (tool.get("input_schema") or {}).get("type") != "object":
            return f"tools.{i}.custom.input_schema.type: Field required"
    return None


def validate_request(doc: Any) -> str | None:
    """The 400 message the real API would give this body, or None."""
    if not isinstance(doc, dict):
        return "Request body must be a JSON object"
    problem = _check_params(doc)
    if problem:
        return problem
    messages = doc.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if not all(isinstance(m, dict) for m in messages):
        return "messages: each message must be an object"
    for index in range(len(messages)):
        problem = _check_message(index, messages)
        if problem:
            return problem
    return None


# -- answers -----------------------------------------------------------------------------------------


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            texts = [b.get("text", "") for b in _blocks(message.get("content")) if b.get("type") == "text"]
            if texts:
                return " ".join(texts)
    return ""


def _tool_results(messages: list[dict[str, Any]]) -> list[str]:
    last = messages[-1] if messages[-1].get("role") == "user" else {}
    results = [b for b in _blocks(last.get("content")) if b.get("type") == "tool_result"]
    return [b["content"] if isinstance(b.get("content"), str) else json.dumps(b.get("content")) for b in results]


def _answer_text(doc: dict[str, Any], model: str, b: dict[str, Any]) -> str:
    messages = doc["messages"]
    if b.get("text") is not None:
        text = str(b["text"])
    elif b.get("refusal"):
        text = "I can't help with that."
    elif _tool_results(messages):
        text = "Tool results: " + " | ".join(_tool_results(messages))
    else:
        text = reply_text(model, [{"role": "user", "content": _last_user_text(messages)}])
    while len(text) < int(b.get("chunks") or 0):
        text += " more"
    if messages[-1].get("role") == "assistant":  # a prefill: continue it
        prefix = "".join(x.get("text", "") for x in _blocks(messages[-1]["content"]) if x.get("type") == "text")
        text = text[len(prefix) :] if prefix and text.startswith(prefix) else text
    return text


def _plan(doc: dict[str, Any], model: str, b: dict[str, Any]) -> tuple[list[dict[str, Any]], str, str | None]:
    """The content blocks, stop_reason and stop_sequence of the answer."""
    if b.get("tool_call") and not _tool_results(doc["messages"]):
        return (
            [{"type": "tool_use", "id": i, "name": "get_weather", "input": a} for i, a in _TOOL_CALLS],
            "tool_use",
            None,
        )
    text, stop, sequence = _answer_text(doc, model, b), "refusal" if b.get("refusal") else "end_turn", None
    hits = [(text.find(s), s) for s in doc.get("stop_sequences") or () if s and s in text]
    if hits:
        cut, sequence = min(hits)
        text, stop = text[:cut], "stop_sequence"
    if len(text) // 4 > doc["max_tokens"]:
        text, stop, sequence = text[: doc["max_tokens"] * 4], "max_tokens", None
    blocks: list[dict[str, Any]] = []
    if b.get("thinking"):
        thought = f"Let me think about: {_last_user_text(doc['messages'])}"
        blocks.append({"type": "thinking", "thinking": thought, "signature": "sig_fake_EqQBCkYIARgCIkD"})
    blocks.append({"type": "text", "text": text})
    return blocks, stop, sequence


def _usage(doc: dict[str, Any], blocks: list[dict[str, Any]], b: dict[str, Any]) -> dict[str, int]:
    prompt = (len(json.dumps(doc["messages"])) + len(json.dumps(doc.get("system") or ""))) // 4
    output = max(1, len(json.dumps(blocks)) // 4)
    cache_read = int(b.get("cache_read") or 0)
    return {
        "input_tokens": prompt,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cache_read,
        "output_tokens": output,
    }


def _frame(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _split(text: str, n: int) -> list[str]:
    size = max(1, -(-len(text) // max(1, n)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _block_frames(index: int, block: dict[str, Any], chunks: int) -> list[bytes]:
    kind = block["type"]
    if kind == "tool_use":
        start = {**block, "input": {}}
        args = json.dumps(block["input"])
        pieces = ["", args[: len(args) // 2], args[len(args) // 2 :]]
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
    elif kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": p} for p in _split(block["thinking"], 2)]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    else:
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in _split(block["text"], chunks)]
    frames = [_frame("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})]
    frames += [
        _frame("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas
    ]
    frames.append(_frame("content_block_stop", {"type": "content_block_stop", "index": index}))
    return frames


def answer_message(doc: dict[str, Any], model: str, b: dict[str, Any]) -> dict[str, Any]:
    """The whole Message the fake answers `doc` with, under behaviour `b`."""
    blocks, stop, sequence = _plan(doc, model, b)
    return {
        "id": f"msg_fake{int(time.time() * 1000) % 10**9:09d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": sequence,
        "usage": _usage(doc, blocks, b),
    }


def stream_frames(message: dict[str, Any], b: dict[str, Any]) -> list[bytes]:
    """The SSE frames (each with its blank line) streaming `message` under behaviour `b`; the Bedrock fake
    re-encodes them."""
    usage = message["usage"]
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1},
    }
    frames = [
        _frame("message_start", {"type": "message_start", "message": start}),
        _frame("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(message["content"]):
        frames += _block_frames(index, block, int(b.get("chunks") or 5))
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    frames.append(
        _frame(
            "message_delta",
            {"type": "message_delta", "delta": delta, "usage": {"output_tokens": usage["output_tokens"]}},
        )
    )
    frames.append(_frame("message_stop", {"type": "message_stop"}))
    if b.get("no_done"):
        frames = frames[:-2]
    if b.get("stream_error") is not None:
        error = _error_body("overloaded_error", "Overloaded")
        frames = [*frames[: int(b["stream_error"])], _frame("error", error)]
    return frames


@dataclass
class FakeAnthropic(FakeServer):
    """Anthropic's `/v1/messages` and `/v1/models`, scriptable per model; `api_key` set means only it is accepted."""

    api_key: str | None = None

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/messages/count_tokens", self.count_tokens)
        app.router.add_get("/v1/models", self.models)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        body = _error_body(_ERROR_TYPES.get(status, "api_error"), message)
        return web.json_response(body, status=status, headers={"request-id": "req_fake0123456789", **(headers or {})})

    def _auth_problem(self, request: web.Request) -> web.Response | None:
        # anthropic>=2.x sends the key as a Bearer token; older clients and Polyroute send x-api-key.
        bearer = request.headers.get("authorization", "")
        key = request.headers.get("x-api-key") or (bearer[7:] if bearer.lower().startswith("bearer ") else "")
        if not key:
            return self._error(401, "x-api-key header is required")
        if self.api_key is not None and key != self.api_key:
            return self._error(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return self._error(400, "anthropic-version: header is required")
        return None

    async def models(self, request: web.Request) -> web.Response:
        behaviour = self.next_behaviour("__models__") or {}
        problem = self._auth_problem(request)
        if problem is not None or "status" in behaviour:
            return problem or self._error(int(behaviour["status"]), "down")
        model = {
            "type": "model",
            "id": "claude-fake",
            "display_name": "Claude Fake",
            "lifecycle": "active",
            "created_at": "2025-01-01T00:00:00Z",
            "max_input_tokens": 200000,
            "max_tokens": 64000,
        }
        return web.json_response(
            {"data": [model], "first_id": "claude-fake", "last_id": "claude-fake", "has_more": False}
        )

    def _scripted_error(self, b: dict[str, Any], model: str) -> web.Response:
        status = int(b["status"])
        headers = dict(b.get("headers") or {})
        if b.get("retry_after"):
            headers["retry-after"] = str(b["retry_after"])
        if "body" in b:
            return web.json_response(b["body"], status=status, headers=headers)
        return self._error(status, str(b.get("message") or f"fake error {status} for {model}"), headers)

    async def count_tokens(self, request: web.Request) -> web.Response:
        """`{"input_tokens": 1000 + characters of text}`: a number no estimate would give. `max_tokens`
        is refused, as Anthropic does; scripts and status models answer with their errors."""
        problem = self._auth_problem(request)
        if problem is not None:
            return problem
        return self.count(json.loads(await request.read()))

    def count(self, doc: Any) -> web.Response:
        """The count of a parsed request (also Claude on Vertex's count-tokens)."""
        model = str(doc.get("model", ""))
        b = behaviour_for(model)
        b.update(self.next_behaviour(model) or {})
        if "status" in b and (b["status"] != 200 or "body" in b):
            return self._scripted_error(b, model)
        if "max_tokens" in doc:
            return self._error(400, "max_tokens: Extra inputs are not permitted")
        texts = [json.dumps(m.get("content")) for m in doc.get("messages") or []]
        return web.json_response({"input_tokens": 1000 + sum(len(t) for t in texts)})

    async def messages(self, request: web.Request) -> web.StreamResponse:
        problem = self._auth_problem(request)
        if problem is not None:
            return problem
        try:
            doc = json.loads(await request.read())
        except ValueError:
            return self._error(400, "There was an error parsing the body of your request")
        return await self.answer(request, doc)

    async def answer(self, request: web.Request, doc: Any) -> web.StreamResponse:
        """The answer to a parsed Messages request (also Claude on Vertex's, whose model is in the URL)."""
        invalid = validate_request(doc)
        if invalid:
            return self._error(400, invalid)
        model = str(doc["model"])
        b = behaviour_for(model)
        b.update(self.next_behaviour(model) or {})
        if b.get("delay_ms"):
            await asyncio.sleep(b["delay_ms"] / 1000)
        if b.get("stall"):
            await asyncio.sleep(60)
        if "status" in b and (b["status"] != 200 or "body" in b):
            return self._scripted_error(b, model)
        message = answer_message(doc, model, b)
        if doc.get("stream"):
            return await self._stream(request, message, b)
        return web.json_response(message, headers={"request-id": "req_fake0123456789"})

    async def _stream(self, request: web.Request, message: dict[str, Any], b: dict[str, Any]) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "request-id": "req_fake0123456789",
            }
        )
        await resp.prepare(request)
        if b.get("stall_first"):
            await asyncio.sleep(60)
        for index, data in enumerate(stream_frames(message, b)):
            if b.get("cut_after") is not None and index >= int(b["cut_after"]):
                assert request.transport is not None
                request.transport.abort()
                return resp
            if b.get("stall_after") is not None and index >= int(b["stall_after"]):
                await asyncio.sleep(60)
            await resp.write(data)
            if b.get("chunk_delay_ms"):
                await asyncio.sleep(b["chunk_delay_ms"] / 1000)
        await resp.write_eof()
        return resp
