"""The openai SDK through the gateway to a real llama-server: chat, streams, models, embeddings, tools, JSON.

A 135M model's wording is not stable across builds, so every assertion is on shapes: ids, roles,
finish reasons, usage numbers and event order.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e_real.conftest import LLAMA_MODEL
from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.real_upstream

TIMEOUT_S = 60.0
MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a helpful assistant. Answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
# A 135M model follows `tools` only after an example call (REAL_UPSTREAM.md). Without a system
# message: with one, this model answers in a made-up `<tool_answer>` tag instead of calling.
TOOL_CONVERSATION: list[dict[str, Any]] = [
    {"role": "user", "content": "What is the weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_example_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_example_1", "content": "Sunny, 21 C"},
    {"role": "assistant", "content": "It is sunny in Paris."},
    {"role": "user", "content": "What is the weather in Tokyo?"},
]
NO_TOOL_RESPONSE = {"7639": -100}
"""Bans the token "response": the model would otherwise imitate the example's `<tool_response>`."""


def test_chat_non_stream(real_gateway: GatewayProcess) -> None:
    raw = real_gateway.openai(timeout=TIMEOUT_S).chat.completions.with_raw_response.create(
        model=LLAMA_MODEL, messages=MESSAGES, temperature=0, max_tokens=48
    )
    completion = raw.parse()
    assert completion.id and completion.object == "chat.completion"
    assert completion.model == LLAMA_MODEL
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.index == 0 and choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content.strip()
    assert choice.finish_reason in {"stop", "length"}
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert raw.headers["x-polyroute-provider"] == "llama"
    assert raw.headers["x-polyroute-attempts"] == "1"
    body = json.loads(raw.http_response.text)
    assert body["provider"] == "llama" and body["latency_ms"] >= 0


def test_chat_stream_with_usage(real_gateway: GatewayProcess) -> None:
    chunks = list(
        real_gateway.openai(timeout=TIMEOUT_S).chat.completions.create(
            model=LLAMA_MODEL,
            messages=MESSAGES,
            temperature=0,
            max_tokens=48,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert {c.model for c in chunks} == {LLAMA_MODEL}
    assert len({c.id for c in chunks}) == 1 and chunks[0].id
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    roles = [c.choices[0].delta.role for c in chunks if c.choices and c.choices[0].delta.role]
    assert roles and set(roles) == {"assistant"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishes) == 1 and finishes[0] in {"stop", "length"}
    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1, "include_usage asks for exactly one usage chunk"
    assert with_usage[0] is chunks[-1] and with_usage[0].choices == []
    usage = with_usage[0].usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    # the finish reason comes before the usage chunk, and nothing follows the usage chunk
    last_with_finish = max(i for i, c in enumerate(chunks) if c.choices and c.choices[0].finish_reason)
    assert last_with_finish == len(chunks) - 2


def test_models_lists_the_llama_model(real_gateway: GatewayProcess) -> None:
    client = real_gateway.openai(timeout=TIMEOUT_S)
    models = {m.id: m for m in client.models.list()}
    assert LLAMA_MODEL in models
    assert "route/with-fallback" in models
    listed = models[LLAMA_MODEL].model_dump()
    assert listed["object"] == "model"
    assert listed.get("context_window") == 4096
    one = client.models.retrieve(LLAMA_MODEL)
    assert one.id == LLAMA_MODEL


def test_embeddings(real_gateway: GatewayProcess) -> None:
    client = real_gateway.openai(timeout=TIMEOUT_S)
    result = client.embeddings.create(model=LLAMA_MODEL, input=["hello world", "a second, longer input text"])
    assert result.model == LLAMA_MODEL
    assert [d.index for d in result.data] == [0, 1]
    dims = {len(d.embedding) for d in result.data}
    assert len(dims) == 1 and dims.pop() > 0
    assert all(isinstance(v, float) for v in result.data[0].embedding)
    assert result.data[0].embedding != result.data[1].embedding
    assert result.usage.prompt_tokens > 0
    floats = client.embeddings.create(model=LLAMA_MODEL, input="hello world", encoding_format="float")
    assert floats.data[0].embedding == pytest.approx(result.data[0].embedding, rel=1e-4, abs=1e-5)


def test_tool_call(real_gateway: GatewayProcess) -> None:
    completion = real_gateway.openai(timeout=TIMEOUT_S).chat.completions.create(
        model=LLAMA_MODEL,
        messages=TOOL_CONVERSATION,
        tools=[WEATHER_TOOL],
        temperature=0,
        max_tokens=64,
        logit_bias=NO_TOOL_RESPONSE,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    calls = choice.message.tool_calls or []
    assert len(calls) >= 1
    for call in calls:
        assert call.id and call.type == "function"
        assert call.function.name == "get_weather"
        assert isinstance(json.loads(call.function.arguments), dict)


def test_tool_call_streamed(real_gateway: GatewayProcess) -> None:
    client = real_gateway.openai(timeout=TIMEOUT_S)
    with client.chat.completions.stream(
        model=LLAMA_MODEL,
        messages=TOOL_CONVERSATION,
        tools=[WEATHER_TOOL],
        temperature=0,
        max_tokens=64,
        logit_bias=NO_TOOL_RESPONSE,
    ) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert calls and all(c.function.name == "get_weather" for c in calls)
    assert all(isinstance(json.loads(c.function.arguments), dict) for c in calls)


def test_json_schema_response_format(real_gateway: GatewayProcess) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "country", "population"],
        "additionalProperties": False,
    }
    completion = real_gateway.openai(timeout=TIMEOUT_S).chat.completions.create(
        model=LLAMA_MODEL,
        messages=[{"role": "user", "content": "Describe the capital of France as JSON."}],
        temperature=0,
        max_tokens=128,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "strict": True, "schema": schema}},
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    data = json.loads(choice.message.content or "")
    assert isinstance(data, dict) and set(schema["required"]) <= set(data)
    assert isinstance(data["city"], str) and isinstance(data["country"], str)
    assert isinstance(data["population"], int)


def test_fallback_from_a_dead_provider(real_gateway: GatewayProcess) -> None:
    raw = real_gateway.openai(timeout=TIMEOUT_S).chat.completions.with_raw_response.create(
        model="route/with-fallback", messages=MESSAGES, temperature=0, max_tokens=32
    )
    completion = raw.parse()
    assert raw.headers["x-polyroute-provider"] == "llama"
    assert completion.model == LLAMA_MODEL
    assert completion.choices[0].message.content
    attempts = int(raw.headers["x-polyroute-attempts"])
    # either the dead target was tried (and retried) first, or its failed health probe had already
    # opened its breaker (open or half-open: it can never close again) and the strategy skipped it
    assert attempts >= 2 or _breaker(real_gateway, "dead") != "closed"


def test_fallback_stream_from_a_dead_provider(real_gateway: GatewayProcess) -> None:
    client = real_gateway.openai(timeout=TIMEOUT_S)
    with client.chat.completions.with_streaming_response.create(
        model="route/with-fallback",
        messages=MESSAGES,
        temperature=0,
        max_tokens=32,
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        assert response.headers["x-polyroute-provider"] == "llama"
        attempts = int(response.headers["x-polyroute-attempts"])
        chunks = list(response.parse())
    assert {c.model for c in chunks} == {LLAMA_MODEL}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    assert attempts >= 2 or _breaker(real_gateway, "dead") != "closed"


def _breaker(gw: GatewayProcess, provider: str) -> str:
    with gw.admin() as http:
        resp = http.get("/v1/health/providers")
    assert resp.status_code == 200, resp.text
    entry = next(p for p in resp.json()["data"] if p["name"] == provider)
    return str(entry["models"][0]["breaker"])
