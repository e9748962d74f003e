"""The legacy `POST /v1/completions` for the fake OpenAI upstream, as OpenAI (and vLLM) shape it.

`add_completions_routes(fake, app)` adds it to a FakeOpenAI. Each prompt (a string, a list of
strings, token ids or lists of them) gets `n` choices whose text is `" continues <prompt>"`
(`" fills before <suffix>"` with a suffix), the prompt in front with `echo`, a logprobs object
with `logprobs`. Streams send the text in pieces, one chunk per piece and choice, then a finish
chunk per choice, a usage chunk when `stream_options.include_usage` asks, and `[DONE]`. Error
behaviour follows the chat fake (`fake-500`, `fake-429`, `fake-slow-MS`, `fake-cut`; scripts, `text` included).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from tests.fakes.openai import FakeOpenAI

__all__ = ["add_completions_routes", "completion_text"]


def completion_text(prompt: Any, suffix: str | None = None) -> str:
    if suffix:
        return f" fills before {suffix}"
    shown = prompt if isinstance(prompt, str) else "tokens " + " ".join(str(t) for t in prompt)
    return f" continues {shown}"


def _prompts(prompt: Any) -> list[Any]:
    if isinstance(prompt, str):
        return [prompt]
    if prompt and all(isinstance(p, int) for p in prompt):
        return [prompt]
    return list(prompt)


def _logprobs(text: str) -> dict[str, Any]:
    tokens = text.split(" ")
    return {
        "tokens": tokens,
        "token_logprobs": [-0.5] * len(tokens),
        "top_logprobs": [{t: -0.5} for t in tokens],
        "text_offset": [0] * len(tokens),
    }


def add_completions_routes(fake: FakeOpenAI, app: web.Application) -> None:
    async def complete(request: web.Request) -> web.StreamResponse:
        return await _complete(fake, request)

    app.router.add_post("/v1/completions", complete)


async def _complete(fake: FakeOpenAI, request: web.Request) -> web.StreamResponse:
    doc = json.loads(await request.read())
    model = str(doc.get("model", ""))
    b = fake.behaviour(model)
    if b.get("delay_ms"):
        await asyncio.sleep(b["delay_ms"] / 1000)
    if (error := fake.scripted_error(b, model)) is not None:
        return error
    choices = []
    for prompt in _prompts(doc.get("prompt", "")):
        text = str(b["text"]) if b.get("text") is not None else completion_text(prompt, doc.get("suffix"))
        if doc.get("echo") and isinstance(prompt, str):
            text = prompt + text
        for _ in range(int(doc.get("n") or 1)):
            choices.append(text)
    prompt_tokens = sum(max(1, len(str(p)) // 4) for p in _prompts(doc.get("prompt", "")))
    completion_tokens = sum(max(1, len(t) // 4) for t in choices)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    base = {"id": "cmpl-fake123", "object": "text_completion", "created": int(time.time()), "model": model}
    wants_logprobs = doc.get("logprobs") is not None
    if not doc.get("stream"):
        out = {
            **base,
            "choices": [
                {
                    "text": text,
                    "index": i,
                    "logprobs": _logprobs(text) if wants_logprobs else None,
                    "finish_reason": "stop",
                }
                for i, text in enumerate(choices)
            ],
            "usage": usage,
        }
        return web.json_response(out)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)

    def frame(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return b"data: " + json.dumps({**base, "choices": choices, **extra}).encode() + b"\n\n"

    frames = []
    for i, text in enumerate(choices):
        words = text.split(" ")
        for at, word in enumerate(words):
            piece = word if at == 0 else " " + word
            frames.append(frame([{"text": piece, "index": i, "logprobs": None, "finish_reason": None}]))
    for i in range(len(choices)):
        frames.append(frame([{"text": "", "index": i, "logprobs": None, "finish_reason": "stop"}]))
    if (doc.get("stream_options") or {}).get("include_usage"):
        frames.append(frame([], usage=usage))
    frames.append(b"data: [DONE]\n\n")
    for index, data in enumerate(frames):
        if b.get("cut_after") is not None and index >= int(b["cut_after"]):
            assert request.transport is not None
            request.transport.abort()
            return resp
        await resp.write(data)
    await resp.write_eof()
    return resp
