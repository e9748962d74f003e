"""A fake OpenAI-dialect upstream: Chat Completions (JSON and SSE), models, and failure modes.

Behaviour is picked by model name (TensorZero's dummy provider does the same) or scripted
per request with `script(model, {...})`:

  fake-500 / fake-503 / fake-429 / fake-400 / fake-401 / fake-404  that status, OpenAI error body
  fake-content-policy        400 with code content_policy_violation
  fake-context               400 with code context_length_exceeded
  fake-html                  502 with an HTML page
  fake-200-error             200 whose body is an error object
  fake-stall                 accepts and never answers (bounded at 60 s)
  fake-stall-first           sends headers, then nothing
  fake-stall-mid             streams a few chunks, then stalls
  fake-cut                   streams a few chunks, then resets the connection
  fake-no-done               streams a few chunks, then ends cleanly without a finish or [DONE]
  fake-malformed-sse         one garbage frame in the middle of a good stream
  fake-no-usage              never reports usage
  fake-tool                  answers with two parallel tool calls (then text once given results)
  fake-chunks-N              streams N content chunks
  fake-slow-MS               waits MS milliseconds before answering
anything else              a deterministic text answer

Script keys: status, body, headers, html, delay_ms, stall, stall_first, stall_after, cut_after,
no_done, malformed, no_usage, text, chunks, tool_call, retry_after, hang_up (read the request, then
close the connection without a byte of answer, as a server closing an idle keep-alive connection
does when a request crosses its FIN).
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer

__all__ = ["FakeOpenAI", "behaviour_for", "reply_text"]


def _last_user_text(messages: Any) -> str:
    for message in reversed(messages or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def reply_text(model: str, messages: Any) -> str:
    return f"Hello from {model}. You said: {_last_user_text(messages)}"


def behaviour_for(model: str) -> dict[str, Any]:
    simple = {
        "fake-500": {"status": 500},
        "fake-503": {"status": 503},
        "fake-429": {"status": 429, "retry_after": "1"},
        "fake-400": {"status": 400},
        "fake-401": {"status": 401},
        "fake-404": {"status": 404},
        "fake-content-policy": {
            "status": 400,
            "code": "content_policy_violation",
            "message": "Your request was rejected as a result of our safety system.",
        },
        "fake-context": {
            "status": 400,
            "code": "context_length_exceeded",
            "message": "This model's maximum context length is 16 tokens.",
        },
        "fake-html": {"status": 502, "html": True},
        "fake-200-error": {
            "status": 200,
            "body": {"error": {"message": "upstream overloaded", "type": "server_error"}},
        },
        "fake-stall": {"stall": True},
        "fake-stall-first": {"stall_first": True},
        "fake-stall-mid": {"stall_after": 3},
        "fake-cut": {"cut_after": 3},
        "fake-no-done": {"no_done": True},
        "fake-malformed-sse": {"malformed": 2},
        "fake-no-usage": {"no_usage": True},
        "fake-tool": {"tool_call": True},
        "fake-search": {"search_call": True},
    }
    for name, behaviour in simple.items():
        if model == name or model.startswith(name + "@"):
            return dict(behaviour)
    if model.startswith("fake-chunks-"):
        return {"chunks": int(model.rsplit("-", 1)[1])}
    if model.startswith("fake-slow-"):
        return {"delay_ms": int(model.rsplit("-", 1)[1])}
    return {}


def _split(text: str, n: int) -> list[str]:
    n = max(1, n)
    size = max(1, -(-len(text) // n))
    parts = [text[i : i + size] for i in range(0, len(text), size)]
    while len(parts) < n:
        parts.append("")
    return parts[:n] if len(parts) > n else parts


@dataclass
class FakeOpenAI(FakeServer):
    """OpenAI's `/v1/...` surface, scriptable per model."""

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_post("/v1/images/generations", self.images)
        from tests.fakes.openai_completions import add_completions_routes
        from tests.fakes.openai_moderations import add_moderations_routes
        from tests.fakes.openai_rerank import add_rerank_routes
        from tests.fakes.openai_responses import add_responses_routes

        add_responses_routes(self, app)
        add_completions_routes(self, app)
        add_rerank_routes(self, app)
        add_moderations_routes(self, app)

    async def models(self, request: web.Request) -> web.Response:
        behaviour = self.next_behaviour("__models__") or {}
        if "status" in behaviour:
            return web.json_response({"error": {"message": "down"}}, status=behaviour["status"])
        return web.json_response(
            {"object": "list", "data": [{"id": "gpt-fake", "object": "model", "created": 0, "owned_by": "fake"}]}
        )

    async def embeddings(self, request: web.Request) -> web.Response:
        doc = json.loads(await request.read())
        model = str(doc.get("model", ""))
        b = behaviour_for(model)
        b.update(self.next_behaviour(model) or {})
        if "status" in b:
            return self._error(b, model)
        inputs = doc["input"] if isinstance(doc["input"], list) else [doc["input"]]
        data = []
        for index, text in enumerate(inputs):
            vector = [round((len(str(text)) * (i + 1)) % 97 / 97, 4) for i in range(int(doc.get("dimensions") or 8))]
            embedding: Any = vector
            if doc.get("encoding_format") == "base64":
                embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(max(1, len(str(t)) // 4) for t in inputs)
        return web.json_response(
            {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        )

    async def images(self, request: web.Request) -> web.Response:
        doc = json.loads(await request.read())
        model = str(doc.get("model", ""))
        b = behaviour_for(model)
        if "status" in b:
            return self._error(b, model)
        pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
        out: dict[str, Any] = {
            "created": int(time.time()),
            "data": [{"b64_json": pixel, "revised_prompt": doc["prompt"]} for _ in range(int(doc.get("n") or 1))],
        }
        if model.startswith("gpt-image"):
            out["usage"] = {"input_tokens": 10, "output_tokens": 100, "total_tokens": 110}
        return web.json_response(out)

    def behaviour(self, model: str) -> dict[str, Any]:
        """What the next request naming `model` does: its name's behaviour, then any script."""
        b = behaviour_for(model)
        b.update(self.next_behaviour(model) or {})
        return b

    def scripted_error(self, b: dict[str, Any], model: str) -> web.Response | None:
        """The error answer `b` asks for, if any."""
        return self._error(b, model) if "status" in b and (b["status"] != 200 or "body" in b) else None

    def _error(self, b: dict[str, Any], model: str) -> web.Response:
        status = int(b["status"])
        headers = dict(b.get("headers") or {})
        if b.get("retry_after"):
            headers["Retry-After"] = str(b["retry_after"])
        if b.get("html"):
            page = "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
            return web.Response(status=status, text=page, content_type="text/html", headers=headers)
        if "body" in b:
            return web.json_response(b["body"], status=status, headers=headers)
        kind = {
            400: "invalid_request_error",
            401: "authentication_error",
            404: "not_found_error",
            429: "rate_limit_error",
        }.get(status, "server_error")
        message = b.get("message") or f"fake error {status} for {model}"
        body = {"error": {"message": message, "type": kind, "param": None, "code": b.get("code")}}
        return web.json_response(body, status=status, headers=headers)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        doc = json.loads(await request.read())
        model = str(doc.get("model", ""))
        b = behaviour_for(model)
        b.update(self.next_behaviour(model) or {})
        if b.get("delay_ms"):
            await asyncio.sleep(b["delay_ms"] / 1000)
        if b.get("stall"):
            await asyncio.sleep(60)
        if b.get("hang_up"):
            assert request.transport is not None
            request.transport.close()
            return web.Response()  # never written: the transport is closing
        if "status" in b and (b["status"] != 200 or "body" in b):
            return self._error(b, model)
        if doc.get("stream"):
            return await self._stream(request, doc, model, b)
        return web.json_response(self._completion(doc, model, b))

    def _usage(self, doc: dict[str, Any], text: str) -> dict[str, Any]:
        prompt = sum(len(json.dumps(m)) // 4 for m in doc.get("messages", []))
        completion = max(1, len(text) // 4)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }

    def _wants_tools(self, doc: dict[str, Any], b: dict[str, Any]) -> bool:
        messages = doc.get("messages") or []
        answered = any(isinstance(m, dict) and m.get("role") == "tool" for m in messages)
        if b.get("search_call"):
            names = {t.get("function", {}).get("name") for t in doc.get("tools") or []}
            return "web_search" in names and not answered and doc.get("tool_choice") != "none"
        return bool(b.get("tool_call")) and not answered

    def _tool_calls(self, doc: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if doc is not None and "web_search" in {t.get("function", {}).get("name") for t in doc.get("tools") or []}:
            query = _last_user_text(doc.get("messages"))
            return [
                {
                    "id": "call_search_1",
                    "type": "function",
                    "function": {"name": "web_search", "arguments": json.dumps({"query": query})},
                }
            ]
        return [
            {
                "id": "call_weather_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})},
            },
            {
                "id": "call_weather_2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": json.dumps({"city": "Tokyo"})},
            },
        ]

    def _text(self, doc: dict[str, Any], model: str, b: dict[str, Any]) -> str:
        if b.get("text") is not None:
            return str(b["text"])
        messages = doc.get("messages") or []
        tool_results = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "tool"]
        if tool_results:
            return "Tool results: " + " | ".join(str(t) for t in tool_results)
        return reply_text(model, messages)

    def _continued(self, doc: dict[str, Any], text: str) -> str:
        """A trailing assistant message is a prefill: answer only what comes after it (vLLM, DeepSeek)."""
        messages = doc.get("messages") or []
        last = messages[-1] if messages else {}
        prefix = last.get("content") if isinstance(last, dict) and last.get("role") == "assistant" else None
        if isinstance(prefix, str) and prefix and text.startswith(prefix):
            return text[len(prefix) :]
        return text

    def _completion(self, doc: dict[str, Any], model: str, b: dict[str, Any]) -> dict[str, Any]:
        if self._wants_tools(doc, b):
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": self._tool_calls(doc)}
            finish, text = "tool_calls", ""
        else:
            text = self._continued(doc, self._text(doc, model, b))
            message, finish = {"role": "assistant", "content": text, "refusal": None}, "stop"
        out: dict[str, Any] = {
            "id": "chatcmpl-fake123",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        }
        if not b.get("no_usage"):
            out["usage"] = self._usage(doc, text or "tool")
        return out

    async def _stream(self, request: web.Request, doc: dict[str, Any], model: str, b: dict[str, Any]) -> Any:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        if b.get("stall_first"):
            await asyncio.sleep(60)
        base = {
            "id": "chatcmpl-fake123",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_fake",
        }

        def frame(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            return b"data: " + json.dumps({**base, "choices": choices, **extra}).encode() + b"\n\n"

        frames = [frame([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
        if self._wants_tools(doc, b):
            for i, call in enumerate(self._tool_calls(doc)):
                args = call["function"]["arguments"]
                head = {
                    "index": i,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""},
                }
                frames.append(frame([{"index": 0, "delta": {"tool_calls": [head]}, "finish_reason": None}]))
                for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
                    delta = {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}
                    frames.append(frame([{"index": 0, "delta": delta, "finish_reason": None}]))
            finish, text = "tool_calls", "tool"
        else:
            text = self._continued(doc, self._text(doc, model, b))
            for piece in _split(text, int(b.get("chunks", 5))):
                frames.append(frame([{"index": 0, "delta": {"content": piece}, "finish_reason": None}]))
            finish = "stop"
        frames.append(frame([{"index": 0, "delta": {}, "finish_reason": finish}]))
        options = doc.get("stream_options") or {}
        if options.get("include_usage") and not b.get("no_usage"):
            frames.append(frame([], usage=self._usage(doc, text)))
        frames.append(b"data: [DONE]\n\n")
        if b.get("malformed") is not None:
            frames.insert(int(b["malformed"]), b"data: {this is not json\n\n")
        for index, data in enumerate(frames):
            if b.get("no_done") and index >= 3:
                return resp
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
