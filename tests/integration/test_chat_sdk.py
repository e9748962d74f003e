"""Chat Completions through the real gateway, driven by the official openai SDK."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.usefixtures("fakes_reset")


def test_non_stream_answer_names_the_model_that_answered(gateway: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    client = gateway.openai()
    raw = client.chat.completions.with_raw_response.create(
        model="fakeai/gpt-fake", messages=[{"role": "user", "content": "ping"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello from gpt-fake. You said: ping"
    assert completion.model == "fakeai/gpt-fake"
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    body = json.loads(raw.http_response.text)
    assert body["provider"] == "fakeai"
    assert isinstance(body["latency_ms"], float)
    assert raw.headers["x-polyroute-provider"] == "fakeai"
    assert raw.headers["x-polyroute-model"] == "fakeai/gpt-fake"
    assert raw.headers["x-request-id"]
    assert raw.headers["traceparent"].startswith("00-")
    assert "gateway;dur=" in raw.headers["server-timing"] and "upstream;dur=" in raw.headers["server-timing"]
    # upstream saw the provider's model id, not the gateway's name for it
    assert fake_openai.requests_for("/chat/completions")[-1].json()["model"] == "gpt-fake"


def test_unknown_fields_and_tools_reach_the_upstream_unchanged(
    gateway: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    request = {
        "model": "fakeai/gpt-fake",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                ],
            }
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "auto",
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        "logprobs": True,
        "n": 1,
        "future_field_nobody_knows": {"nested": [1, 2, 3]},
    }
    with gateway.http() as http:
        resp = http.post("/v1/chat/completions", json=request, headers={"Authorization": f"Bearer {gateway.api_key}"})
    assert resp.status_code == 200, resp.text
    seen = fake_openai.requests_for("/chat/completions")[-1].json()
    expected = {**request, "model": "gpt-fake"}
    assert seen == expected


def test_caller_key_never_reaches_upstream(gateway: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    gateway.openai().chat.completions.create(model="fakeai/gpt-fake", messages=[{"role": "user", "content": "x"}])
    with gateway.http() as http:
        http.post(
            "/v1/chat/completions",
            json={"model": "fakeai/gpt-fake", "messages": [{"role": "user", "content": "y"}]},
            headers={"X-API-Key": gateway.api_key},
        )
    for received in fake_openai.received:
        dump = json.dumps(received.headers) + received.body.decode()
        assert gateway.api_key not in dump
        assert received.headers["Authorization"] == "Bearer sk-upstream-primary-secret"


def test_provider_key_never_comes_back(gateway: GatewayProcess) -> None:
    with gateway.http() as http:
        resp = http.post(
            "/v1/chat/completions",
            json={"model": "fakeai/gpt-fake", "messages": [{"role": "user", "content": "y"}]},
            headers={"Authorization": f"Bearer {gateway.api_key}"},
        )
        assert "sk-upstream-primary-secret" not in resp.text + json.dumps(dict(resp.headers))


async def test_async_client_and_streaming(gateway: GatewayProcess) -> None:
    client = gateway.async_openai()
    completion = await client.chat.completions.create(
        model="fakeai/gpt-fake", messages=[{"role": "user", "content": "async"}]
    )
    assert completion.choices[0].message.content == "Hello from gpt-fake. You said: async"
    stream = await client.chat.completions.create(
        model="fakeai/gpt-fake", messages=[{"role": "user", "content": "streamed"}], stream=True
    )
    text = ""
    models = set()
    async for chunk in stream:
        models.add(chunk.model)
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
    assert text == "Hello from gpt-fake. You said: streamed"
    assert models == {"fakeai/gpt-fake"}
    await client.close()


def test_stream_include_usage_is_honoured_and_absent_otherwise(gateway: GatewayProcess) -> None:
    client = gateway.openai()
    chunks = list(
        client.chat.completions.create(
            model="fakeai/gpt-fake",
            messages=[{"role": "user", "content": "u"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and usage_chunks[0].usage.total_tokens > 0
    assert usage_chunks[0].choices == []
    plain = list(
        client.chat.completions.create(
            model="fakeai/gpt-fake", messages=[{"role": "user", "content": "u"}], stream=True
        )
    )
    assert all(c.usage is None for c in plain)
    assert plain[-1].choices[0].finish_reason == "stop"


def test_stream_helper(gateway: GatewayProcess) -> None:
    client = gateway.openai()
    with client.chat.completions.stream(
        model="fakeai/gpt-fake", messages=[{"role": "user", "content": "helper"}]
    ) as stream:
        for _event in stream:
            pass
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Hello from gpt-fake. You said: helper"
    assert final.model == "fakeai/gpt-fake"


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_round_trip(gateway: GatewayProcess, stream: bool) -> None:
    client = gateway.openai()
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        }
    ]
    messages: list[dict[str, object]] = [{"role": "user", "content": "weather in Paris and Tokyo?"}]
    if stream:
        with client.chat.completions.stream(model="fakeai/fake-tool", messages=messages, tools=tools) as s:
            first = s.get_final_completion()
    else:
        first = client.chat.completions.create(model="fakeai/fake-tool", messages=messages, tools=tools)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls is not None and [c.function.name for c in calls] == ["get_weather", "get_weather"]
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["Paris", "Tokyo"]
    messages.append(choice.message.model_dump(exclude_none=True))
    for call in calls:
        city = json.loads(call.function.arguments)["city"]
        messages.append({"role": "tool", "tool_call_id": call.id, "content": f"sunny in {city}"})
    second = client.chat.completions.create(model="fakeai/fake-tool", messages=messages, tools=tools)
    assert second.choices[0].message.content == "Tool results: sunny in Paris | sunny in Tokyo"


def test_prefixes_and_bare_names(gateway: GatewayProcess) -> None:
    for prefix in ("/v1", "/openai/v1", "/api/v1"):
        client = openai.OpenAI(api_key=gateway.api_key, base_url=gateway.base_url + prefix, max_retries=0)
        completion = client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
        assert completion.model == "demo/echo"
    # fake-tool exists on several providers: a bare name must be unambiguous to resolve
    with pytest.raises(openai.BadRequestError):
        gateway.openai().chat.completions.create(model="fake-tool", messages=[{"role": "user", "content": "x"}])


def test_route_with_several_targets_uses_priority_order(
    gateway: GatewayProcess, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> None:
    raw = gateway.openai().chat.completions.with_raw_response.create(
        model="route/fallback", messages=[{"role": "user", "content": "fall back"}]
    )
    completion = raw.parse()
    assert completion.model == "backup/gpt-fake"
    # fake-500 twice (one retry) then the backup; once other tests have opened fake-500's breaker the
    # retry stops early, so the exact count depends on the order tests ran in
    assert raw.headers["x-polyroute-attempts"] in {"2", "3"}
    assert set(r.json()["model"] for r in fake_openai.requests_for("/chat/completions")) <= {"fake-500"}
    assert len(fake_backup.requests_for("/chat/completions")) == 1


def test_demo_provider_answers_stream_and_not(gateway: GatewayProcess) -> None:
    client = gateway.openai()
    completion = client.chat.completions.create(model="demo/echo", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == "Echo: hi"
    text = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(
            model="demo/echo", messages=[{"role": "user", "content": "one two three"}], stream=True
        )
        if c.choices
    )
    assert text == "Echo: one two three"


def test_models_list_and_get(gateway: GatewayProcess) -> None:
    client = gateway.openai()
    models = {m.id: m for m in client.models.list()}
    assert {"fakeai/gpt-fake", "route/fallback", "demo/echo", "claude/claude-fake", "gem/gemini-fake"} <= set(models)
    card = models["fakeai/gpt-fake"].model_dump()
    assert card["object"] == "model" and card["owned_by"] == "fakeai"
    assert card["context_window"] == 128000
    assert card["pricing"] == {"input_per_mtok": 1.0, "output_per_mtok": 2.0, "cached_input_per_mtok": None}
    assert card["health"] in {"healthy", "degraded", "down"}
    assert card["targets"][0]["health"]["breaker"] in {"closed", "open", "half-open"}
    route = models["route/fallback"].model_dump()
    assert route["type"] == "route" and [t["provider"] for t in route["targets"]] == ["fakeai", "backup"]
    assert "gpt-fake" not in models  # bare aliases are not listed twice
    one = client.models.retrieve("claude/claude-fake")
    assert one.id == "claude/claude-fake"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope/nothing")


def test_models_list_follows_the_plan(gateway: GatewayProcess) -> None:
    free = gateway.openai(key="sk-poly-free-0123456789abcdefghij")
    ids = {m.id for m in free.models.list()}
    assert "fakeai/gpt-fake" in ids and "route/fallback" in ids
    assert "claude/claude-fake" not in ids
    with pytest.raises(openai.NotFoundError):
        free.models.retrieve("claude/claude-fake")
    with pytest.raises(openai.AuthenticationError):
        gateway.openai(key="sk-poly-wrong-000000000000").models.list()


def test_the_anthropic_sdk_lists_models_in_its_own_shape_page_by_page(gateway: GatewayProcess) -> None:
    expected = [m.id for m in gateway.openai().models.list()]
    client = gateway.anthropic()
    first = client.models.list(limit=2)
    assert [m.id for m in first.data] == expected[:2] and first.has_more and first.last_id == expected[1]
    assert [m.id for m in client.models.list(limit=3)] == expected  # the SDK follows after_id to the end
    before = client.models.list(limit=2, before_id=expected[3])
    assert [m.id for m in before.data] == expected[1:3]
    one = client.models.retrieve("claude/claude-fake")
    assert (one.type, one.id, one.display_name) == ("model", "claude/claude-fake", "claude/claude-fake")
    assert one.model_dump()["context_window"] == 200000  # our metadata rides along
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.models.retrieve("nope/nothing")
    assert missing.value.type == "not_found_error"  # Anthropic's error shape on a shared path
    with pytest.raises(anthropic.BadRequestError):
        client.models.list(limit=0)
    free = {m.id for m in gateway.anthropic(key="sk-poly-free-0123456789abcdefghij").models.list()}
    assert "claude/claude-fake" not in free and "fakeai/gpt-fake" in free
