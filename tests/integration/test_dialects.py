"""One key, every model, in the SDK the caller already has: each SDK against each upstream dialect."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.usefixtures("fakes_reset")

OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
ANTHROPIC_TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]

# (gateway model name, the name the answer must carry, the upstream's own text for "ping")
OPENAI_SDK_TARGETS = [
    ("claude/claude-fake", "claude/claude-fake"),
    ("gem/gemini-fake", "gem/gemini-fake"),
]


@pytest.mark.parametrize(("model", "answered"), OPENAI_SDK_TARGETS)
def test_openai_sdk_non_stream_on_other_dialects(gateway: GatewayProcess, model: str, answered: str) -> None:
    client = gateway.openai()
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "ping"}],
        max_tokens=100,
        temperature=0.5,
    )
    completion = raw.parse()
    upstream_model = model.split("/", 1)[1]
    assert completion.choices[0].message.content == f"Hello from {upstream_model}. You said: ping"
    assert completion.model == answered
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens > 0
    assert json.loads(raw.http_response.text)["provider"] == answered.split("/")[0]


def test_openai_sdk_to_anthropic_sends_anthropic_wire(gateway: GatewayProcess, fake_anthropic: FakeAnthropic) -> None:
    gateway.openai().chat.completions.create(
        model="claude/claude-fake",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "ping"}],
    )
    sent = fake_anthropic.requests_for("/v1/messages")[-1]
    assert sent.headers["x-api-key"] == "sk-ant-upstream-secret"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    body = sent.json()
    assert body["system"] == "Be brief." and body["max_tokens"] == 4096
    assert body["messages"] == [{"role": "user", "content": "ping"}]
    assert gateway.api_key not in json.dumps(sent.headers)


@pytest.mark.parametrize(("model", "answered"), OPENAI_SDK_TARGETS)
def test_openai_sdk_stream_on_other_dialects(gateway: GatewayProcess, model: str, answered: str) -> None:
    chunks = list(
        gateway.openai().chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "stream me"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"Hello from {model.split('/', 1)[1]}. You said: stream me"
    assert {c.model for c in chunks} == {answered}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1 and usage[0].completion_tokens > 0
    plain = list(
        gateway.openai().chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}], stream=True)
    )
    assert all(c.usage is None for c in plain)


@pytest.mark.parametrize("model", ["claude/fake-tool", "gem/fake-tool"])
@pytest.mark.parametrize("stream", [False, True])
def test_openai_sdk_tool_round_trip_on_other_dialects(gateway: GatewayProcess, model: str, stream: bool) -> None:
    client = gateway.openai()
    messages: list[dict[str, Any]] = [{"role": "user", "content": "weather in Paris and Tokyo?"}]
    if stream:
        with client.chat.completions.stream(model=model, messages=messages, tools=OPENAI_TOOLS) as s:
            first = s.get_final_completion()
    else:
        first = client.chat.completions.create(model=model, messages=messages, tools=OPENAI_TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_weather"]
    cities = [json.loads(c.function.arguments)["city"] for c in calls]
    assert sorted(cities) == ["Paris", "Tokyo"]
    messages.append(choice.message.model_dump(exclude_none=True))
    for call in calls:
        city = json.loads(call.function.arguments)["city"]
        messages.append({"role": "tool", "tool_call_id": call.id, "content": f"sunny in {city}"})
    second = client.chat.completions.create(model=model, messages=messages, tools=OPENAI_TOOLS)
    content = second.choices[0].message.content or ""
    assert "sunny in Paris" in content and "sunny in Tokyo" in content


def test_openai_sdk_reasoning_from_anthropic_thinking(gateway: GatewayProcess) -> None:
    raw = gateway.openai().chat.completions.with_raw_response.create(
        model="claude/fake-thinking", messages=[{"role": "user", "content": "think"}]
    )
    message = json.loads(raw.http_response.text)["choices"][0]["message"]
    assert message["reasoning_content"]
    assert message["content"]


# -- the Anthropic SDK ------------------------------------------------------------------------------

ANTHROPIC_SDK_TARGETS = ["fakeai/gpt-fake", "claude/claude-fake", "gem/gemini-fake"]


@pytest.mark.parametrize("model", ANTHROPIC_SDK_TARGETS)
def test_anthropic_sdk_non_stream(gateway: GatewayProcess, model: str) -> None:
    message = gateway.anthropic().messages.create(
        model=model, max_tokens=200, system="Be brief.", messages=[{"role": "user", "content": "ping"}]
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text"
    assert message.content[0].text == f"Hello from {model.split('/', 1)[1]}. You said: ping"
    assert message.model == model
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


@pytest.mark.parametrize("model", ANTHROPIC_SDK_TARGETS)
def test_anthropic_sdk_stream(gateway: GatewayProcess, model: str) -> None:
    with gateway.anthropic().messages.stream(
        model=model, max_tokens=200, messages=[{"role": "user", "content": "stream me"}]
    ) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
    assert final.content[0].text == f"Hello from {model.split('/', 1)[1]}. You said: stream me"
    assert final.stop_reason == "end_turn"
    assert events[0] == "message_start"
    assert events[-1] == "message_stop"
    assert "content_block_start" in events and "content_block_stop" in events and "message_delta" in events
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model", ["fakeai/fake-tool", "claude/fake-tool", "gem/fake-tool"])
@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_sdk_tool_round_trip(gateway: GatewayProcess, model: str, stream: bool) -> None:
    client = gateway.anthropic()
    messages: list[dict[str, Any]] = [{"role": "user", "content": "weather in Paris and Tokyo?"}]
    if stream:
        with client.messages.stream(model=model, max_tokens=300, messages=messages, tools=ANTHROPIC_TOOLS) as s:
            first = s.get_final_message()
    else:
        first = client.messages.create(model=model, max_tokens=300, messages=messages, tools=ANTHROPIC_TOOLS)
    assert first.stop_reason == "tool_use"
    uses = [b for b in first.content if b.type == "tool_use"]
    assert [u.name for u in uses] == ["get_weather", "get_weather"]
    assert sorted(u.input["city"] for u in uses) == ["Paris", "Tokyo"]
    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]})
    messages.append(
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": u.id, "content": f"sunny in {u.input['city']}"} for u in uses
            ],
        }
    )
    second = client.messages.create(model=model, max_tokens=300, messages=messages, tools=ANTHROPIC_TOOLS)
    text = "".join(b.text for b in second.content if b.type == "text")
    assert "sunny in Paris" in text and "sunny in Tokyo" in text


def test_anthropic_passthrough_keeps_upstream_body(gateway: GatewayProcess, fake_anthropic: FakeAnthropic) -> None:
    request = {
        "model": "claude/claude-fake",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"user_id": "u-1"},
        "top_k": 5,
    }
    with gateway.http() as http:
        resp = http.post(
            "/v1/messages", json=request, headers={"x-api-key": gateway.api_key, "anthropic-version": "2023-06-01"}
        )
    assert resp.status_code == 200, resp.text
    assert fake_anthropic.requests_for("/v1/messages")[-1].json() == {**request, "model": "claude-fake"}
    assert resp.json()["model"] == "claude/claude-fake"


def test_anthropic_errors_parse_in_the_anthropic_sdk(gateway: GatewayProcess) -> None:
    client = gateway.anthropic()
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(model="nope/nothing", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert err.value.type == "invalid_request_error"
    assert err.value.api_message == "Unknown model 'nope/nothing'"
    assert err.value.error_code == "INVALID_MODEL"
    assert err.value.response.headers["x-error-code"] == "INVALID_MODEL"
    assert err.value.response.headers["content-type"].startswith("application/problem+json")
    with pytest.raises(anthropic.AuthenticationError) as auth:
        gateway.anthropic(key="sk-poly-wrong-0000000000").messages.create(
            model="claude/claude-fake", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert auth.value.type == "authentication_error"
    with gateway.http() as http:
        resp = http.post(
            "/v1/messages",
            json={"model": "claude/claude-fake", "messages": [{"role": "user", "content": "x"}]},
            headers={"x-api-key": gateway.api_key},
        )
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in resp.json()["error"]["message"]


def test_anthropic_stream_error_event_after_start(gateway: GatewayProcess) -> None:
    with (
        pytest.raises(anthropic.APIStatusError),
        gateway.anthropic().messages.stream(
            model="claude/fake-stream-error", max_tokens=50, messages=[{"role": "user", "content": "x"}]
        ) as stream,
    ):
        for _ in stream:
            pass


def test_unsupported_feature_is_400_naming_it(gateway: GatewayProcess) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        gateway.openai().chat.completions.create(
            model="claude/claude-fake", messages=[{"role": "user", "content": "x"}], logprobs=True
        )
    assert "logprobs" in err.value.message and "Anthropic" in err.value.message


def test_gemini_safety_block_is_content_filter(gateway: GatewayProcess, fake_gemini: FakeGemini) -> None:
    completion = gateway.openai().chat.completions.create(
        model="gem/fake-safety", messages=[{"role": "user", "content": "x"}]
    )
    assert completion.choices[0].finish_reason == "content_filter"
    assert fake_gemini.requests_for(":generateContent")[-1].headers["x-goog-api-key"] == "gemini-upstream-secret"


@pytest.mark.parametrize("model", ["claude/fake-cut", "gem/fake-cut", "gem/fake-no-finish"])
def test_cut_streams_on_other_dialects_end_with_an_error_event(gateway: GatewayProcess, model: str) -> None:
    with pytest.raises(openai.APIError):
        for _ in gateway.openai().chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x"}], stream=True
        ):
            pass


def test_openai_upstream_passthrough_untouched_by_translation(gateway: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    gateway.anthropic().messages.create(
        model="fakeai/gpt-fake", max_tokens=20, system="sys", messages=[{"role": "user", "content": "hi"}]
    )
    sent = fake_openai.requests_for("/chat/completions")[-1].json()
    assert sent["messages"] == [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]
    assert sent["max_tokens"] == 20 and sent["model"] == "gpt-fake"


# A 1x1 PNG, as a data URL (OpenAI's image part) and as its base64 (Anthropic's and Gemini's).
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def test_openai_sdk_image_parts_reach_each_upstream_in_its_dialect(
    gateway: GatewayProcess, fake_anthropic: FakeAnthropic, fake_gemini: FakeGemini
) -> None:
    content: Any = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
    ]
    client = gateway.openai()
    for model in ("claude/claude-fake", "gem/gemini-fake"):
        answer = client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}])
        assert answer.choices[0].message.content
    sent = fake_anthropic.requests_for("/v1/messages")[-1].json()["messages"][0]["content"]
    assert sent == [
        {"type": "text", "text": "what is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
    ]
    parts = fake_gemini.requests_for(":generateContent")[-1].json()["contents"][0]["parts"]
    assert parts == [{"text": "what is this?"}, {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}]


def test_anthropic_sdk_image_blocks_reach_an_openai_upstream(gateway: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}
    gateway.anthropic().messages.create(
        model="fakeai/gpt-fake",
        max_tokens=20,
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "describe"}]}],
    )
    sent = fake_openai.requests_for("/chat/completions")[-1].json()["messages"][0]["content"]
    assert sent == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
        {"type": "text", "text": "describe"},
    ]


def test_gemini_thoughts_become_reasoning_content(gateway: GatewayProcess) -> None:
    client = gateway.openai()
    messages: Any = [{"role": "user", "content": "think"}]
    raw = client.chat.completions.with_raw_response.create(
        model="gem/fake-thinking", messages=messages, reasoning_effort="medium"
    )
    message = json.loads(raw.http_response.text)["choices"][0]["message"]
    assert message["reasoning_content"] and message["content"]
    streamed = client.chat.completions.create(
        model="gem/fake-thinking", messages=messages, reasoning_effort="medium", stream=True
    )
    deltas = [c.choices[0].delta for c in streamed if c.choices]
    reasoning = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
    assert reasoning == message["reasoning_content"]
    assert "".join(d.content or "" for d in deltas) == message["content"]


def test_anthropic_sdk_gets_gemini_thoughts_as_thinking_blocks(gateway: GatewayProcess) -> None:
    client = gateway.anthropic()
    kwargs: Any = {
        "model": "gem/fake-thinking",
        "max_tokens": 4000,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [{"role": "user", "content": "think"}],
    }
    whole = client.messages.create(**kwargs)
    assert [b.type for b in whole.content] == ["thinking", "text"]
    with client.messages.stream(**kwargs) as stream:
        kinds = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert "thinking_delta" in kinds and "text_delta" in kinds
    assert kinds.index("thinking_delta") < kinds.index("text_delta")
    assert final.content[0].thinking == whole.content[0].thinking  # type: ignore[union-attr]


def _collapsed(names: list[str]) -> list[str]:
    return [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]


@pytest.mark.parametrize("model", ANTHROPIC_SDK_TARGETS)
def test_anthropic_stream_has_the_exact_event_sequence(gateway: GatewayProcess, model: str) -> None:
    body = {"model": model, "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "order"}]}
    with (
        gateway.http() as http,
        http.stream("POST", "/v1/messages", json=body, headers={"x-api-key": gateway.api_key}) as resp,
    ):
        lines = list(resp.iter_lines())
    names = [line[7:] for line in lines if line.startswith("event: ")]
    datas = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert [d["type"] for d in datas] == names  # every frame names its event, as Anthropic does
    assert _collapsed([n for n in names if n != "ping"]) == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert "ping" in names and names.index("ping") < names.index("content_block_start")
    start = datas[0]["message"]
    assert start["role"] == "assistant" and start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] > 0
    delta = next(d for d in datas if d["type"] == "message_delta")
    assert delta["delta"]["stop_reason"] == "end_turn" and delta["usage"]["output_tokens"] > 0
