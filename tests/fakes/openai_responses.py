"""A native `POST /v1/responses` for the fake OpenAI upstream: JSON, and SSE in OpenAI's exact event order.

`add_responses_routes(fake, app)` adds the routes to any FakeOpenAI (call it from `routes()`);
`FakeOpenAIWithResponses` is a FakeOpenAI that already has them. Behaviour follows the chat fake:
status-error models (`fake-500`, `fake-429`, ...) and scripts answer with OpenAI error bodies,
`fake-slow-MS` waits, `fake-cut` resets the connection after a few events, `fake-tool` answers with
two function calls (get_weather for Paris and Tokyo) until the input carries function_call_output
items, and anything else says "Hello from <model>. You said: <last user text>". Responses are kept
(unless `store` is false) for `previous_response_id` and `GET /v1/responses/{id}`; an unknown
previous id is a 404 as on OpenAI.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.openai import FakeOpenAI, behaviour_for, reply_text

__all__ = ["FakeOpenAIWithResponses", "add_responses_routes", "sse_events", "stream_events"]

_TOOL_CALLS = (("call_weather_1", {"city": "Paris"}), ("call_weather_2", {"city": "Tokyo"}))


def add_responses_routes(fake: FakeOpenAI, app: web.Application) -> None:
    """Serve `POST /v1/responses` and `GET /v1/responses/{response_id}` on `fake`'s app."""
    handler = _Responses(fake)
    app.router.add_post("/v1/responses", handler.create)
    app.router.add_get("/v1/responses/{response_id}", handler.get)


@dataclass
class FakeOpenAIWithResponses(FakeOpenAI):
    """FakeOpenAI, which now serves the native Responses API itself (kept for the translator tests)."""


def sse_events(events: list[dict[str, Any]]) -> bytes:
    """Frame Responses events the way OpenAI does: `event:` names the type; there is no [DONE]."""
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def _not_found(message: str, param: str | None, code: str) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return web.json_response(body, status=404)


class _Responses:
    def __init__(self, fake: FakeOpenAI) -> None:
        self.fake = fake
        self.stored: dict[str, dict[str, Any]] = {}
        self.inputs: dict[str, list[dict[str, Any]]] = {}
        self.ids = itertools.count(1)

    async def get(self, request: web.Request) -> web.Response:
        response_id = request.match_info["response_id"]
        if response_id not in self.stored:
            return _not_found(f"Response with id '{response_id}' not found.", None, "not_found")
        return web.json_response(self.stored[response_id])

    async def create(self, request: web.Request) -> web.StreamResponse:
        doc = json.loads(await request.read())
        model = str(doc.get("model", ""))
        b = behaviour_for(model)
        b.update(self.fake.next_behaviour(model) or {})
        if b.get("delay_ms"):
            await asyncio.sleep(b["delay_ms"] / 1000)
        if b.get("stall"):
            await asyncio.sleep(60)
        if "status" in b and (b["status"] != 200 or "body" in b):
            return self.fake._error(b, model)
        previous = doc.get("previous_response_id")
        if previous and previous not in self.stored:
            return _not_found(
                f"Previous response with id '{previous}' not found.",
                "previous_response_id",
                "previous_response_not_found",
            )
        items = [*self.inputs.get(previous, []), *_items(doc.get("input"))]
        refused = _check_call_items(doc.get("input"), items)
        if refused is not None:
            return refused
        response = self._response(doc, model, b, items)
        if doc.get("store", True):
            self.stored[response["id"]] = response
            self.inputs[response["id"]] = items + response["output"]
        if doc.get("stream"):
            return await self._stream(request, response, b)
        return web.json_response(response)

    def _response(self, doc: dict[str, Any], model: str, b: dict[str, Any], items: list[dict[str, Any]]) -> Any:
        n = next(self.ids)
        results = [str(i.get("output")) for i in items if i.get("type") == "function_call_output"]
        if b.get("tool_call") and not results:
            output = [_call_item(n, i, call_id, args) for i, (call_id, args) in enumerate(_TOOL_CALLS)]
        else:
            text = b.get("text")
            if text is None:
                text = "Tool results: " + " | ".join(results) if results else reply_text(model, items)
            content = [{"type": "output_text", "text": str(text), "annotations": [], "logprobs": []}]
            output = [
                {
                    "id": f"msg_fake{n}",
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "content": content,
                }
            ]
        prompt = max(1, len(json.dumps(items)) // 4)
        completion = max(1, len(json.dumps(output)) // 8)
        usage = (
            None
            if b.get("no_usage")
            else {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": completion,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": prompt + completion,
            }
        )
        return {
            "id": f"resp_fake{n:04d}",
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": doc.get("instructions"),
            "max_output_tokens": doc.get("max_output_tokens"),
            "max_tool_calls": None,
            "metadata": doc.get("metadata") or {},
            "model": model,
            "output": output,
            "parallel_tool_calls": doc.get("parallel_tool_calls", True),
            "previous_response_id": doc.get("previous_response_id"),
            "prompt_cache_key": None,
            "reasoning": {"effort": None, "summary": None},
            "safety_identifier": None,
            "service_tier": "default",
            "store": doc.get("store", True),
            "temperature": doc.get("temperature", 1.0),
            "text": doc.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": doc.get("tool_choice", "auto"),
            "tools": doc.get("tools") or [],
            "top_logprobs": 0,
            "top_p": doc.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": usage,
            "user": None,
        }

    async def _stream(self, request: web.Request, response: dict[str, Any], b: dict[str, Any]) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        for index, event in enumerate(stream_events(response, int(b.get("chunks", 5)))):
            if b.get("cut_after") is not None and index >= int(b["cut_after"]):
                assert request.transport is not None
                request.transport.abort()
                return resp
            await resp.write(sse_events([event]))
        await resp.write_eof()
        return resp


def stream_events(response: dict[str, Any], chunks: int = 5) -> list[dict[str, Any]]:
    """OpenAI's event sequence for a finished Response, numbered from 0."""
    events: list[dict[str, Any]] = []

    def emit(type_: str, **fields: Any) -> None:
        events.append({"type": type_, **fields, "sequence_number": len(events)})

    start = {**response, "status": "in_progress", "output": [], "usage": None}
    emit("response.created", response=start)
    emit("response.in_progress", response=start)
    for index, item in enumerate(response["output"]):
        at = {"item_id": item["id"], "output_index": index}
        if item["type"] == "message":
            emit(
                "response.output_item.added", output_index=index, item={**item, "status": "in_progress", "content": []}
            )
            text = item["content"][0]["text"]
            empty = {**item["content"][0], "text": ""}
            emit("response.content_part.added", **at, content_index=0, part=empty)
            size = max(1, -(-len(text) // max(1, chunks)))
            for piece in [text[i : i + size] for i in range(0, len(text), size)] or [""]:
                emit("response.output_text.delta", **at, content_index=0, delta=piece, logprobs=[])
            emit("response.output_text.done", **at, content_index=0, text=text, logprobs=[])
            emit("response.content_part.done", **at, content_index=0, part=item["content"][0])
        else:
            emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            args = item["arguments"]
            for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
                emit("response.function_call_arguments.delta", **at, delta=piece)
            emit("response.function_call_arguments.done", **at, name=item["name"], arguments=args)
        emit("response.output_item.done", output_index=index, item=item)
    emit("response.completed", response=response)
    return events


def _call_item(n: int, index: int, call_id: str, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"fc_fake{n}_{index}",
        "type": "function_call",
        "status": "completed",
        "call_id": call_id,
        "name": "get_weather",
        "arguments": json.dumps(args),
    }


_CALL_FIELDS = {
    "function_call": {"type", "id", "call_id", "name", "arguments", "status"},
    "function_call_output": {"type", "id", "call_id", "output", "status"},
}


def _bad_request(message: str, param: str, code: str | None) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return web.json_response(body, status=400)


def _check_call_items(raw: Any, items: list[dict[str, Any]]) -> web.Response | None:
    """OpenAI's own checks on function-call items: only `call_id`, and an output needs its call."""
    if not isinstance(raw, list):
        return None
    calls = {i.get("call_id") for i in items if i.get("type") == "function_call"}
    for index, item in enumerate(raw):
        allowed = _CALL_FIELDS.get(item.get("type")) if isinstance(item, dict) else None
        if allowed is None:
            continue
        for key in item:
            if key not in allowed:
                return _bad_request(
                    f"Unknown parameter: 'input[{index}].{key}'.", f"input[{index}].{key}", "unknown_parameter"
                )
        call_id = item.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            param = f"input[{index}].call_id"
            return _bad_request(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")
        if item["type"] == "function_call_output" and call_id not in calls:
            return _bad_request(
                f"No tool call found for function call output with call_id {call_id}.", f"input[{index}]", None
            )
    return None


def _items(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    return [item for item in raw or [] if isinstance(item, dict)]
